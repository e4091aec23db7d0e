"""Embedding in a worker process that stops when idle, so the server gives the model's memory back.

The local model (ONNX Runtime or torch) costs a process 140 MB or more once loaded, and indexing
grows ONNX Runtime's memory arena by ~100 MB more, which it never returns. `WorkerEmbedder` runs
the model in one spawned process instead (`load_embedder` there, with its export cache), sends it
texts and takes vectors back, and stops that process after `idle_seconds` without a call
(`SWITCHBOARD_EMBEDDING_IDLE_SECONDS`, 10 minutes by default); the next call starts it again
(~1 s: a fresh interpreter loads the exported model). The server keeps only the model's name and
vector size.

Vectors are the same as in-process: the worker runs the same embedder, one text per run. Long
calls are sent in slices of `SLICE` texts, one slice at a time, so a search's query waits behind
one slice of an indexing batch at most, not the whole batch. A worker that dies mid-call is
replaced and the call tried once more.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Literal, TypeVar

from knowledge.embeddings import Backend, load_embedder
from knowledge.errors import EmbeddingModelUnavailable

IDLE_SECONDS = 600.0
SLICE = 16
Kind = Literal["documents", "queries"]
T = TypeVar("T")


def _describe(model: str, backend: Backend, cache_dir: str) -> tuple[str, int]:
    """In the worker: the model's id and vector size (loading, and exporting, it once)."""
    embedder = load_embedder(model, backend=backend, cache_dir=Path(cache_dir))
    return embedder.model_id, embedder.dimension


def _embed(
    model: str, backend: Backend, cache_dir: str, kind: Kind, texts: list[str]
) -> list[list[float]]:
    """In the worker: embed texts as documents or queries (lists, so the server needs no numpy)."""
    embedder = load_embedder(model, backend=backend, cache_dir=Path(cache_dir))
    if kind == "documents":
        return embedder.embed_documents(texts)
    return embedder.embed_queries(texts)


class WorkerEmbedder:
    """An `Embedder` whose model runs in a worker process that stops after `idle_seconds`."""

    def __init__(
        self,
        model: str = "",
        *,
        backend: Backend = "onnx",
        cache_dir: Path,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._arguments = (model, backend, str(cache_dir))
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._busy = 0
        self._timer: threading.Timer | None = None
        self._described: tuple[str, int] | None = None
        self.starts = 0  # worker processes started so far

    @property
    def model_id(self) -> str:
        return self._description()[0]

    @property
    def dimension(self) -> int:
        return self._description()[1]

    @property
    def running(self) -> bool:
        """Whether a worker process holds the model now."""
        with self._lock:
            return self._executor is not None

    def _description(self) -> tuple[str, int]:
        if self._described is None:
            self._described = self._call(_describe, *self._arguments)
        return self._described

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._vectors("documents", texts)

    def embed_query(self, text: str) -> list[float]:
        return self._vectors("queries", [text])[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self._vectors("queries", texts)

    def _vectors(self, kind: Kind, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for begin in range(0, len(texts), SLICE):
            part = self._call(_embed, *self._arguments, kind, texts[begin : begin + SLICE])
            vectors += part
        return vectors

    def _call(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in the worker (started if needed), tried again in a new worker if
        the process died.

        Raises:
            EmbeddingModelUnavailable: the worker died twice, or the model cannot be loaded.
        """
        with self._lock:
            self._busy += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        try:
            for attempt in range(2):
                executor = self._started()
                try:
                    return executor.submit(function, *args).result()
                except BrokenProcessPool:
                    self._discard(executor)
                    if attempt == 1:
                        raise EmbeddingModelUnavailable(
                            "The embedding worker process stopped unexpectedly, twice."
                        ) from None
            raise AssertionError("unreachable")
        finally:
            with self._lock:
                self._busy -= 1
                if self._busy == 0 and self._executor is not None:
                    self._timer = threading.Timer(self.idle_seconds, self._stop_if_idle)
                    self._timer.daemon = True
                    self._timer.start()

    def _started(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn")
                )
                self.starts += 1
            return self._executor

    def _discard(self, executor: concurrent.futures.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    def _stop_if_idle(self) -> None:
        with self._lock:
            if self._busy or self._executor is None:
                return
            executor, self._executor, self._timer = self._executor, None, None
        executor.shutdown(wait=True)

    def release(self) -> None:
        """Stop the worker process now, once it finishes what it is doing (it starts again on
        the next call)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def pid(self) -> int | None:
        """The worker process's id, if one runs (for tests and benches)."""
        with self._lock:
            if self._executor is None:
                return None
            processes = list(getattr(self._executor, "_processes", {}).keys())
        return processes[0] if processes else None


_shared: dict[tuple[str, str, str], WorkerEmbedder] = {}
_sharing = threading.Lock()


def worker_embedder(
    model: str = "",
    *,
    backend: Backend = "onnx",
    cache_dir: Path,
    idle_seconds: float = IDLE_SECONDS,
) -> WorkerEmbedder:
    """The process's one worker embedder for a model, backend and export cache."""
    key = (model, backend, str(cache_dir))
    with _sharing:
        if key not in _shared:
            _shared[key] = WorkerEmbedder(
                model, backend=backend, cache_dir=cache_dir, idle_seconds=idle_seconds
            )
        return _shared[key]


def shutdown_embedding_workers() -> None:
    """Stop every worker process now (at shutdown; they start again on the next call)."""
    with _sharing:
        embedders = list(_shared.values())
    for embedder in embedders:
        embedder.release()
