"""Hybrid retrieval with citations: embed the query, search dense + sparse, fuse, maybe re-rank.

A search returns a file's chunks only from its live version, the one the library recorded on the
file's row when that version was whole (`knowledge.indexing`): the index holds every version
written, so the hits' files are looked up (`LiveVersions`, one query for all of them) and a hit
of another version, or of a file with no live version, is dropped; the search is then asked again
without those files' other versions, so the chunks they pushed out come back (`live_hits`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from typing import Protocol

from knowledge.embeddings import Embedder
from knowledge.fusion import DEFAULT_FUSION, PROSE_FUSION, FusionOptions
from knowledge.index import LiveVersions, SearchHit, SearchMode, TenantScope, VectorIndex, Versions
from knowledge.sparse import identifier_vector, looks_like_code, query_vector

_SNIPPET_CHARS = 300
_RERANK_CANDIDATES = 20
_ROUNDS = 3  # searches asked again at most; a file's versions overlap only while it is indexed


class Reranker(Protocol):
    """Scores (query, passage) pairs; higher is more relevant."""

    def score(self, query: str, passages: list[str]) -> list[float]:
        """One score per passage, in order."""
        ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class Citation:
    """Where a passage comes from, for the reader to check."""

    file_id: str
    file_name: str
    page: int | None
    section: tuple[str, ...]
    snippet: str
    start: int
    end: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class Passage:
    """A retrieved chunk: its text, its score and its citation."""

    text: str
    score: float
    chunk_index: int
    citation: Citation


def snippet(text: str, limit: int = _SNIPPET_CHARS) -> str:
    """The start of a text, cut at a word boundary, for showing beside a citation."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit] + "…"


def _passage(hit: SearchHit, score: float) -> Passage:
    citation = Citation(
        file_id=hit.file_id,
        file_name=hit.file_name,
        page=hit.page,
        section=hit.section,
        snippet=snippet(hit.text),
        start=hit.start,
        end=hit.end,
    )
    return Passage(text=hit.text, score=score, chunk_index=hit.chunk_index, citation=citation)


def fusion_for(query: str) -> FusionOptions:
    """How a query's candidate lists are fused: a prose question leans on meaning, a query
    naming code keeps the lists level (`knowledge.fusion`)."""
    return DEFAULT_FUSION if looks_like_code(query) else PROSE_FUSION


def live_hits(
    search: Callable[[Versions | None], list[SearchHit]], live: LiveVersions | None
) -> list[SearchHit]:
    """The hits of `search` that belong to their file's live version (all of them without `live`).

    A hit of another version, or of a file with no live version (its first indexing unfinished,
    or the file deleted), is dropped and `search` asked again with `versions` naming the live
    version of each file that had one dropped, so the hits they pushed out come back. Each
    file's version is read once, so every file's hits come from one version.
    """
    hits = search(None)
    if live is None:
        return hits
    known: dict[str, str | None] = {}
    excluded: dict[str, str | None] = {}
    for attempt in range(_ROUNDS + 1):
        unknown = sorted({hit.file_id for hit in hits} - known.keys())
        if unknown:
            found = live(unknown)
            known.update({file_id: found.get(file_id) for file_id in unknown})
        kept = [hit for hit in hits if known[hit.file_id] == hit.version]
        if len(kept) == len(hits) or attempt == _ROUNDS:
            return kept
        excluded.update({hit.file_id: known[hit.file_id] for hit in hits if hit not in kept})
        hits = search(dict(excluded))
    return []  # not reached: the last attempt returns


def retrieve(
    *,
    index: VectorIndex,
    embedder: Embedder,
    scope: TenantScope,
    query: str,
    limit: int = 5,
    file_ids: Sequence[str] | None = None,
    folder_ids: Sequence[str] | None = None,
    mode: SearchMode = "hybrid",
    reranker: Reranker | None = None,
    live: LiveVersions | None = None,
) -> list[Passage]:
    """The passages the scope may see that best answer `query`, best first.

    With a reranker, more candidates are fetched and re-ordered by its scores. With `live`,
    only chunks of each file's live version (`live_hits`); without, every version stored.

    Raises:
        VectorStoreUnavailable: the index cannot be reached.
        EmbeddingModelUnavailable: the embedding model cannot be loaded.
    """
    dense = embedder.embed_query(query)
    fetch = max(limit, _RERANK_CANDIDATES) if reranker is not None else limit
    sparse, identifiers, fusion = query_vector(query), identifier_vector(query), fusion_for(query)
    hits = live_hits(
        lambda versions: index.search(
            scope,
            dense,
            sparse,
            identifiers=identifiers,
            limit=fetch,
            file_ids=file_ids,
            folder_ids=folder_ids,
            mode=mode,
            fusion=fusion,
            versions=versions,
        ),
        live,
    )
    if reranker is None or not hits:
        return [_passage(hit, hit.score) for hit in hits]
    scores = reranker.score(query, [hit.text for hit in hits])
    ranked = sorted(zip(scores, hits, strict=True), key=lambda pair: pair[0], reverse=True)
    return [_passage(hit, score) for score, hit in ranked[:limit]]


async def retrieve_async(
    *,
    index: VectorIndex,
    embedder: Embedder,
    scope: TenantScope,
    query: str,
    limit: int = 5,
    file_ids: Sequence[str] | None = None,
    folder_ids: Sequence[str] | None = None,
    mode: SearchMode = "hybrid",
    reranker: Reranker | None = None,
    live: LiveVersions | None = None,
) -> list[Passage]:
    """`retrieve` in a thread, so embedding and searching never block the event loop."""
    return await asyncio.to_thread(
        lambda: retrieve(
            index=index,
            embedder=embedder,
            scope=scope,
            query=query,
            limit=limit,
            file_ids=file_ids,
            folder_ids=folder_ids,
            mode=mode,
            reranker=reranker,
            live=live,
        )
    )
