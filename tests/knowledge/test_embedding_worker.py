"""The embedding worker process: the model's vectors, a process that stops when idle."""

from __future__ import annotations

import os
import signal

from knowledge.embedding_worker import WorkerEmbedder
from knowledge.embeddings import Embedder
from tests.knowledge.conftest import MODEL_CACHE
from tests.support import eventually_blocking

TEXTS = [
    "The parrot is resting.",
    "Invoice INV-2024-0042 is overdue.",
    "json.dumps(sort_keys=True)",
]


def test_the_worker_stops_when_idle_comes_back_on_demand_and_survives_a_crash(
    embedder: Embedder,
) -> None:
    worker = WorkerEmbedder(cache_dir=MODEL_CACHE, idle_seconds=0.3)
    try:
        vectors = worker.embed_documents(TEXTS)
        query = worker.embed_query("Which invoice is late?")
        assert vectors == embedder.embed_documents(TEXTS)
        assert query == embedder.embed_query("Which invoice is late?")
        assert (worker.model_id, worker.dimension) == (embedder.model_id, embedder.dimension)

        eventually_blocking(lambda: not worker.running)
        assert worker.embed_documents(TEXTS) == vectors
        assert worker.embed_query("Which invoice is late?") == query
        assert worker.starts == 2

        # A worker that dies is replaced and the call answered (~1 s per start: one test).
        pid = worker.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert worker.embed_query("Which invoice is late?") == query
        assert worker.starts == 3
    finally:
        worker.release()
