"""Knowledge fixtures: the real embedding model (loaded once per worker) and both index backends."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.embeddings import Embedder, load_embedder
from knowledge.index import VectorIndex
from knowledge.index_edge import EdgeIndex
from knowledge.index_server import ServerIndex

# Exported ONNX models are cached across runs (keyed by the model files' fingerprint).
MODEL_CACHE = Path(tempfile.gettempdir()) / "switchboard-test-models"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """all-MiniLM-L6-v2 on the fast (ONNX int8) backend, the application's default."""
    return load_embedder(cache_dir=MODEL_CACHE)


@pytest.fixture(scope="session")
def torch_embedder() -> Embedder:
    """all-MiniLM-L6-v2 on plain sentence-transformers (torch), the baseline."""
    return load_embedder(backend="torch", cache_dir=MODEL_CACHE)


@pytest.fixture(params=["edge", "server"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorIndex]:
    """Each backend in turn: Qdrant Edge in a folder, qdrant-client's local mode in memory."""
    backend: VectorIndex
    if request.param == "edge":
        backend = EdgeIndex(tmp_path / "edge" / "chunks")
    else:
        backend = ServerIndex(location=":memory:")
    yield backend
    backend.close()
