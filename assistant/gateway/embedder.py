"""Embeddings through LiteLLM, metered by billing: knowledge's `Embedder` seam for a catalog model.

With `SWITCHBOARD_EMBEDDING_BACKEND=litellm`, `SWITCHBOARD_EMBEDDING_MODEL` names a models.yaml
entry whose deployment is an embedding model (`openai/text-embedding-3-small`, any
OpenAI-compatible server). Every batch is a model call: admitted by billing before it reaches
the provider (prompt tokens counted with `core.tokens`, no output, source `embedding`) and settled
after it with the provider's usage. Knowledge calls embedders from worker threads while billing
runs on the app's event loop, so each call crosses over with `run_coroutine_threadsafe` to the
loop given at start-up.

Who pays is decided by knowledge and passed through `for_caller`: the uploader of a file being
indexed, the searching user for a query. The unbound embedder refuses to embed, so no call
goes unbilled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from assistant.gateway.chunks import Usage
from assistant.gateway.metering import FREE, Metering
from assistant.schemas import MessageStatus
from billing.admission import Caller
from core import tokens
from core.catalog import Catalog, CatalogModel, litellm_cost_entry
from knowledge.errors import EmbeddingModelUnavailable

T = TypeVar("T")
_SETTING = "SWITCHBOARD_EMBEDDING_MODEL"
# Billing answers in milliseconds; this only bounds a thread waiting on a loop that has stopped.
BILLING_WAIT_SECONDS = 60.0
PROVIDER_BATCH = 64


class LitellmEmbedder:
    """A catalog embedding model behind the `Embedder` protocol, billed to a bound caller."""

    def __init__(
        self,
        *,
        metering: Metering,
        catalog: Catalog,
        model: str,
        caller: Caller | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.metering = metering
        self.catalog = catalog
        self.model_name = model
        self.caller = caller
        self.loop = loop
        self._dimension: int | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Use this event loop (the app's) for billing calls made from worker threads."""
        self.loop = loop

    def for_caller(self, user_id: str, team_ids: Sequence[str] = ()) -> LitellmEmbedder:
        """The same model, billing every call to this user (and their teams' budgets)."""
        bound = LitellmEmbedder(
            metering=self.metering,
            catalog=self.catalog,
            model=self.model_name,
            caller=Caller(user_id=user_id, team_ids=tuple(team_ids)),
            loop=self.loop,
        )
        bound._dimension = self._dimension
        return bound

    def model(self) -> CatalogModel:
        """The catalog entry, usable here.

        Raises:
            EmbeddingModelUnavailable: no model is named, or it is unknown or not set up.
        """
        if not self.model_name:
            raise EmbeddingModelUnavailable(
                f"The litellm embedding backend needs {_SETTING} set to a models.yaml model name."
            )
        try:
            return self.catalog.usable(self.model_name, mode=None)
        except Exception as exc:  # UnknownModel, ModelUnavailable: both mean "cannot embed"
            raise EmbeddingModelUnavailable(
                f"The embedding model {self.model_name!r} (setting {_SETTING}) cannot be used: "
                f"{getattr(exc, 'message', exc)}"
            ) from exc

    @property
    def model_id(self) -> str:
        return f"litellm:{self.model_name}"

    @property
    def dimension(self) -> int:
        """The vector size: `output_vector_size` in the model's model_info or LiteLLM's cost map.

        Raises:
            EmbeddingModelUnavailable: neither says it (a probe call would go unbilled).
        """
        if self._dimension is None:
            model = self.model()
            size = model.info.get("output_vector_size")
            for deployment in model.deployments:
                if size:
                    break
                size = litellm_cost_entry(str(deployment.litellm_params["model"])).get(
                    "output_vector_size"
                )
            if not size:
                raise EmbeddingModelUnavailable(
                    f"The embedding model {self.model_name!r} has no known vector size: "
                    "set model_info.output_vector_size on its models.yaml entry."
                )
            self._dimension = int(size)
        return self._dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for begin in range(0, len(texts), PROVIDER_BATCH):
            vectors += self._embed(texts[begin : begin + PROVIDER_BATCH])
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    def _embed(self, texts: list[str]) -> list[list[float]]:
        """One metered provider call: admit, embed, settle (failed calls settle at zero).

        Raises:
            EmbeddingModelUnavailable: unbound (no one to bill), no loop, or the model unusable.
            BillingError: billing refused the call (seat, budget, price, rate limit).
            ProviderError: the provider failed.
        """
        if not texts:
            return []
        if self.caller is None or self.loop is None:
            raise EmbeddingModelUnavailable(
                "Embeddings through LiteLLM are billed to a user, and none was given."
            )
        model = self.model()
        counted = sum(tokens.count_text(text, model.name) for text in texts)
        call = self.metering.call(
            self.caller, model, source="embedding", prompt_tokens=counted, max_output_tokens=0
        )
        self._on_loop(call.admit())
        # The provider call blocks this worker thread; billing runs on the app's loop.
        try:
            vectors, reported = call.embed(texts)
        except BaseException:
            self._on_loop(call.settle(MessageStatus.FAILED, FREE, estimated=True))
            raise
        usage = Usage(reported if reported >= 0 else counted, 0)
        self._on_loop(call.settle(MessageStatus.COMPLETE, usage, estimated=reported < 0))
        return vectors

    def _on_loop(self, work: Coroutine[Any, Any, T]) -> T:
        """Run billing's coroutine on the app's loop and wait for it (from a worker thread)."""
        loop = self.loop
        if loop is None or _running_loop() is loop:
            work.close()
            raise RuntimeError("LitellmEmbedder must be called from a worker thread.")
        return asyncio.run_coroutine_threadsafe(work, loop).result(BILLING_WAIT_SECONDS)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
