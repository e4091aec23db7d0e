"""Hybrid retrieval with citations: embed the query, search dense + sparse, fuse, maybe re-rank."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Protocol

from knowledge.embeddings import Embedder
from knowledge.fusion import DEFAULT_FUSION, PROSE_FUSION, FusionOptions
from knowledge.index import SearchHit, SearchMode, TenantScope, VectorIndex
from knowledge.sparse import identifier_vector, looks_like_code, query_vector

_SNIPPET_CHARS = 300
_RERANK_CANDIDATES = 20


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
) -> list[Passage]:
    """The passages the scope may see that best answer `query`, best first.

    With a reranker, more candidates are fetched and re-ordered by its scores.

    Raises:
        VectorStoreUnavailable: the index cannot be reached.
        EmbeddingModelUnavailable: the embedding model cannot be loaded.
    """
    dense = embedder.embed_query(query)
    fetch = max(limit, _RERANK_CANDIDATES) if reranker is not None else limit
    hits = index.search(
        scope,
        dense,
        query_vector(query),
        identifiers=identifier_vector(query),
        limit=fetch,
        file_ids=file_ids,
        folder_ids=folder_ids,
        mode=mode,
        fusion=fusion_for(query),
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
        )
    )
