"""The process's vector store: the index and the embedding model, both opened on first use.

Nothing is opened at import or at start: the first search, indexing or deletion opens the index
and loads the model, in a thread, so the event loop never waits on either. A local model runs in
a worker process that stops after a minute without embedding (`knowledge.embedding_worker`).

Searches return a file's chunks only from its live version, read from the database through the
`live_versions` lookup the app gives (`knowledge.retrieval.live_hits`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from knowledge.embedding_worker import worker_embedder
from knowledge.embeddings import Embedder, HashEmbedder, bind_caller
from knowledge.errors import EmbeddingModelUnavailable, VectorStoreUnavailable
from knowledge.index import (
    COLLECTION,
    CollectionSpec,
    CollectionState,
    LiveVersions,
    SearchHit,
    TenantScope,
    UnavailableIndex,
    VectorIndex,
)
from knowledge.retrieval import Passage, live_hits, retrieve
from knowledge.sparse import query_vector

EmbeddingBackend = Literal["onnx", "torch", "hash", "litellm"]
# Builds the embedder of the `litellm` backend; the app injects it (knowledge holds no LiteLLM).
EmbedderFactory = Callable[[], Embedder]
# Given the event loop a search starts on, the lookup of its files' live versions to call on the
# search's thread (`library.read_live_versions`; the app builds it, `knowledge.runtime`).
LiveVersionsLookup = Callable[[asyncio.AbstractEventLoop], LiveVersions]


@dataclass(frozen=True, kw_only=True)
class VectorStoreConfig:
    """Where the index lives and which embedding model fills it."""

    data_dir: Path
    qdrant_url: str = ""
    qdrant_api_key: str = ""
    workers: int = 1
    embedding_model: str = ""
    embedding_backend: EmbeddingBackend = "onnx"
    cache_dir: Path | None = None
    embedding_idle_seconds: float = 600.0


class VectorStore:
    """The index and embedder of this process, opened lazily and shared by every caller."""

    def __init__(
        self,
        config: VectorStoreConfig,
        *,
        embedder_factory: EmbedderFactory | None = None,
        live_versions: LiveVersionsLookup | None = None,
    ) -> None:
        self.config = config
        self.embedder_factory = embedder_factory
        self.live_versions = live_versions
        self._lock = threading.Lock()
        self._index: VectorIndex | None = None
        self._embedder: Embedder | None = None
        self._model_changed = False

    def check_available(self) -> None:
        """Fail fast when this process cannot serve knowledge at all.

        Raises:
            VectorStoreUnavailable: several workers and no Qdrant server configured.
        """
        # Decided from the settings, without building the index: the server's start-up asks,
        # and Qdrant Edge's module (~6 MB resident) is then loaded by the first use instead.
        reason = unavailable_reason(qdrant_url=self.config.qdrant_url, workers=self.config.workers)
        if reason is not None:
            raise VectorStoreUnavailable(reason)

    def index(self) -> VectorIndex:
        """The vector index (nothing is connected until it is used)."""
        with self._lock:
            if self._index is None:
                self._index = open_vector_index(
                    data_dir=self.config.data_dir,
                    qdrant_url=self.config.qdrant_url,
                    qdrant_api_key=self.config.qdrant_api_key,
                    workers=self.config.workers,
                )
            return self._index

    def ready(self) -> tuple[VectorIndex, Embedder]:
        """The index with its collection made for the model, and the model (blocking, once).

        A collection built with another model is emptied and recorded as changed, so the
        caller queues every file for indexing again instead of mixing vectors.

        Raises:
            VectorStoreUnavailable: the index cannot be opened.
            EmbeddingModelUnavailable: the model cannot be loaded.
        """
        index = self.index()
        with self._lock:
            if self._embedder is None:
                embedder = self._load_embedder()
                spec = CollectionSpec(embedder.model_id, embedder.dimension)
                if index.ensure_collection(spec) is CollectionState.MODEL_CHANGED:
                    index.reset_collection(spec)
                    self._model_changed = True
                self._embedder = embedder
            return index, self._embedder

    def _load_embedder(self) -> Embedder:
        if self.config.embedding_backend == "hash":
            return HashEmbedder()
        if self.config.embedding_backend == "litellm":
            if self.embedder_factory is None:
                raise EmbeddingModelUnavailable(
                    "The litellm embedding backend is not available in this process."
                )
            return self.embedder_factory()
        cache = self.config.cache_dir or self.config.data_dir / "models"
        # In a worker process that stops when idle: the server gives the model's memory back.
        return worker_embedder(
            self.config.embedding_model,
            backend=self.config.embedding_backend,
            cache_dir=cache,
            idle_seconds=self.config.embedding_idle_seconds,
        )

    def take_model_change(self) -> bool:
        """Whether the collection was reset for a new model since the last call."""
        with self._lock:
            changed, self._model_changed = self._model_changed, False
            return changed

    async def search(
        self,
        scope: TenantScope,
        query: str,
        *,
        limit: int = 5,
        file_ids: Sequence[str] | None = None,
        folder_ids: Sequence[str] | None = None,
    ) -> list[Passage]:
        """The passages the scope may see that best answer a query (hybrid), best first.

        A billable embedder (through LiteLLM) bills the query to the scope's user.

        Raises:
            VectorStoreUnavailable: the index cannot be reached.
            EmbeddingModelUnavailable: the model cannot be loaded.
        """
        self.check_available()
        live = self._live()

        def work() -> list[Passage]:
            index, embedder = self.ready()
            return retrieve(
                index=index,
                embedder=bind_caller(embedder, scope.user_id, scope.team_ids),
                scope=scope,
                query=query,
                limit=limit,
                file_ids=file_ids,
                folder_ids=folder_ids,
                live=live,
            )

        return await asyncio.to_thread(work)

    def _live(self) -> LiveVersions | None:
        """The live-version lookup for a search's thread (None: no database, every version)."""
        if self.live_versions is None:
            return None
        return self.live_versions(asyncio.get_running_loop())

    async def passages(
        self,
        *,
        user_id: str,
        team_ids: Sequence[str],
        query: str,
        file_ids: Sequence[str],
        folder_ids: Sequence[str],
        limit: int = 5,
    ) -> list[Passage]:
        """Passages for a chat turn from the chat's files and folders (the chat's retriever)."""
        passages: list[Passage] = []
        scope = TenantScope(user_id, tuple(team_ids))
        if file_ids:
            passages += await self.search(scope, query, limit=limit, file_ids=file_ids)
        if folder_ids:
            passages += await self.search(scope, query, limit=limit, folder_ids=folder_ids)
        seen: set[tuple[str, int]] = set()
        unique = []
        for passage in sorted(passages, key=lambda p: p.score, reverse=True):
            key = (passage.citation.file_id, passage.chunk_index)
            if key not in seen:
                seen.add(key)
                unique.append(passage)
        return unique[:limit]

    async def keyword_search(self, scope: TenantScope, query: str, limit: int) -> list[SearchHit]:
        """The chunks the scope may see that best match the query's words (BM25 over the sparse
        vectors only: no embedding, nothing billed), best first.

        Raises:
            VectorStoreUnavailable: the index cannot be reached.
            EmbeddingModelUnavailable: the model cannot be loaded.
        """
        self.check_available()
        vector = query_vector(query)
        if not vector.indices:
            return []
        live = self._live()

        def work() -> list[SearchHit]:
            index = self.ready()[0]
            return live_hits(
                lambda versions: index.search(
                    scope, [], vector, limit=limit, mode="sparse", versions=versions
                ),
                live,
            )

        return await asyncio.to_thread(work)

    async def delete_file(self, file_id: str) -> None:
        """Remove a file's chunks from the index."""
        self.check_available()
        await asyncio.to_thread(lambda: self.ready()[0].delete_file(file_id))

    async def chunks(
        self, file_id: str, *, version: str | None, limit: int, offset: int
    ) -> list[SearchHit]:
        """A file's chunks of its live `version` in order (the caller checked the file is
        visible); none for None."""
        self.check_available()
        return await asyncio.to_thread(
            lambda: self.ready()[0].file_chunks(
                file_id, version=version, limit=limit, offset=offset
            )
        )

    def close(self) -> None:
        """Release the index (an embedded one unlocks its folder)."""
        with self._lock:
            if self._index is not None and not isinstance(self._index, UnavailableIndex):
                self._index.close()
            self._index = None
            self._embedder = None


_LOCAL_SCHEME = "file://"


def open_vector_index(
    *,
    data_dir: Path,
    qdrant_url: str = "",
    qdrant_api_key: str = "",
    workers: int = 1,
    collection: str = COLLECTION,
) -> VectorIndex:
    """The index the settings ask for; nothing is opened or connected until first use.

    A Qdrant server when `qdrant_url` is set; else Qdrant Edge in `data_dir/qdrant-edge`, which
    one process alone may open, so with several workers an `UnavailableIndex`. A `file://` URL
    opens qdrant-client's local mode in that folder (pure Python and one process only: for
    trying the server code path without a server, not for production).
    """
    reason = unavailable_reason(qdrant_url=qdrant_url, workers=workers)
    if reason is not None:
        return UnavailableIndex(reason)
    if qdrant_url.startswith(_LOCAL_SCHEME):
        from knowledge.index_server import ServerIndex

        path = qdrant_url.removeprefix(_LOCAL_SCHEME)
        return ServerIndex(path=path, collection=collection)
    if qdrant_url:
        from knowledge.index_server import ServerIndex

        return ServerIndex(url=qdrant_url, api_key=qdrant_api_key, collection=collection)
    from knowledge.index_edge import EdgeIndex

    return EdgeIndex(data_dir / "qdrant-edge" / collection)


def unavailable_reason(*, qdrant_url: str, workers: int) -> str | None:
    """Why these settings leave this process without a vector store, or None."""
    if workers <= 1 or (qdrant_url and not qdrant_url.startswith(_LOCAL_SCHEME)):
        return None
    if qdrant_url:
        return (
            "qdrant-client's local mode (a file:// SWITCHBOARD_QDRANT_URL) serves one "
            "process; with several workers set SWITCHBOARD_QDRANT_URL to a Qdrant server."
        )
    return (
        "The embedded vector store serves one process; with several workers set "
        "SWITCHBOARD_QDRANT_URL to a Qdrant server."
    )
