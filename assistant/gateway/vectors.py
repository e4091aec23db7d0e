"""Embeddings as the gateway gives them back, and the embedding models Switchboard runs itself.

A catalog deployment `sentence-transformers/<name>` is run in this process, not by LiteLLM:
`sentence-transformers/all-MiniLM-L6-v2` is the bundled model knowledge uses, loaded through
`knowledge.embeddings.load_embedder` with knowledge's backend and export cache, so its vectors
are knowledge's own; any other name or path must be available offline. A model runs in
knowledge's embedding worker process (`knowledge.embedding_worker`, shared with indexing and
searches), which starts on first use and stops when idle: the server never holds the model, nor
torch while a fresh export is made, and every batch waits in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import ProviderError, ProviderRejected
from core import tokens
from core.catalog import Deployment
from knowledge.embedding_worker import IDLE_SECONDS, worker_embedder
from knowledge.embeddings import BUNDLED_MODEL_ID, Backend, Embedder

# Texts a local model embeds per worker-thread run: other requests' batches interleave.
LOCAL_BATCH = 64
# Inputs per provider call of a large request, and such calls at once per request.
PROVIDER_BATCH = 128
PROVIDER_CALLS_AT_ONCE = 4
_BUNDLED_NAMES = {"all-MiniLM-L6-v2", BUNDLED_MODEL_ID}
Inputs = Sequence[str] | Sequence[Sequence[int]]


@dataclass(frozen=True)
class Embedded:
    """The vectors of a call, in input order, and the prompt tokens reported (-1: none)."""

    vectors: list[list[float]]
    prompt_tokens: int


class LocalEmbeddings:
    """The sentence-transformers models of this process, by deployment, loaded once."""

    def __init__(
        self, *, backend: Backend = "onnx", cache_dir: Path, idle_seconds: float = IDLE_SECONDS
    ) -> None:
        self.backend = backend
        self.cache_dir = cache_dir
        self.idle_seconds = idle_seconds

    def embedder(self, deployment: Deployment) -> Embedder:
        """The deployment's model in its worker process (blocking on first use, while the
        worker starts: call from a thread).

        Raises:
            EmbeddingModelUnavailable: the model cannot be loaded offline.
        """
        name = str(deployment.litellm_params["model"]).split("/", 1)[1]
        model = "" if name in _BUNDLED_NAMES else name
        return worker_embedder(
            model, backend=self.backend, cache_dir=self.cache_dir, idle_seconds=self.idle_seconds
        )

    async def embed(
        self, deployment: Deployment, inputs: Inputs, *, dimensions: int | None = None
    ) -> Embedded:
        """Embed texts (token arrays are decoded as cl100k_base) off the event loop, in batches.

        Raises:
            EmbeddingModelUnavailable: the model cannot be loaded offline.
            ProviderRejected: `dimensions` asks for a size the model does not make.
        """
        embedder = await asyncio.to_thread(self.embedder, deployment)
        if dimensions is not None and dimensions != embedder.dimension:
            raise ProviderRejected(
                f"The model {deployment.model_name} makes {embedder.dimension}-dimension "
                f"vectors; it cannot make {dimensions}.",
                model=deployment.model_name,
            )
        texts = [item if isinstance(item, str) else tokens.decode(list(item)) for item in inputs]
        vectors: list[list[float]] = []
        for begin in range(0, len(texts), LOCAL_BATCH):
            batch = texts[begin : begin + LOCAL_BATCH]
            vectors += await asyncio.to_thread(embedder.embed_documents, batch)
        return Embedded(vectors, -1)


async def in_batches(embed: Callable[[list[Any]], Awaitable[Embedded]], inputs: Inputs) -> Embedded:
    """Embed a request's inputs PROVIDER_BATCH at a time, a few calls at once, in input order;
    the prompt tokens are summed (-1 if any call reported none)."""
    slots = asyncio.Semaphore(PROVIDER_CALLS_AT_ONCE)

    async def one(part: list[Any]) -> Embedded:
        async with slots:
            return await embed(part)

    items = list(inputs)
    parts = [items[i : i + PROVIDER_BATCH] for i in range(0, len(items), PROVIDER_BATCH)]
    done = await asyncio.gather(*(one(part) for part in parts))
    vectors = [vector for made in done for vector in made.vectors]
    reported = [made.prompt_tokens for made in done]
    return Embedded(vectors, -1 if -1 in reported else sum(reported))


def vectors_of(rows: Sequence[Any], count: int, model_name: str) -> list[list[float]]:
    """The vectors of an embeddings answer's `data` in input order (items as dicts or objects;
    each vector floats or base64 of float32).

    Raises:
        ProviderError: not one non-empty vector per input.
    """
    ordered = sorted(rows, key=lambda row: int(_field(row, "index") or 0))
    vectors = [_floats(_field(row, "embedding")) for row in ordered]
    if len(vectors) != count or any(not vector for vector in vectors):
        raise ProviderError(
            f"The provider of {model_name} answered with {len(vectors)} embeddings "
            f"for {count} texts.",
            model=model_name,
        )
    return vectors


def _floats(value: Any) -> list[float]:
    if isinstance(value, str):
        import numpy as np  # ~10 MB resident: loaded by the first base64 answer, not at start

        return np.frombuffer(base64.b64decode(value), dtype="<f4").astype(float).tolist()  # type: ignore[no-any-return]
    return [float(number) for number in value or []]


def _field(row: Any, name: str) -> Any:
    """A field of a response item, which may be a dict or an object."""
    return row.get(name) if isinstance(row, dict) else getattr(row, name, None)
