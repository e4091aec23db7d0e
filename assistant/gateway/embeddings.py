"""`/v1/embeddings` for API clients: a catalog embedding model, metered like chat, saved nowhere.

Each request is one metered call (source `v1`): admitted with its inputs' tokens counted here
(no output), settled with the tokens the provider reported, or with those counted when it
reported none (a local model). The gateway embeds a large request in batches.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from assistant.errors import TooManyEmbeddingInputs
from assistant.gateway.chunks import Usage
from assistant.gateway.metering import FREE, Metering
from assistant.gateway.vectors import Inputs
from assistant.schemas import MessageStatus
from billing.admission import Caller
from billing.ratelimits import UNLIMITED, Headroom
from core import tokens
from core.catalog import EMBEDDING, Catalog

# Inputs counted on the event loop; more are counted in a worker thread.
COUNT_ON_LOOP = 64


@dataclass(frozen=True, kw_only=True)
class Made:
    """The vectors of a request, in input order, the catalog model, the tokens billed and what
    admission left of the caller's rate limits."""

    model: str
    vectors: list[list[float]]
    prompt_tokens: int
    headroom: Headroom = UNLIMITED


class EmbeddingRequests:
    """Runs `/v1/embeddings` requests through metered model calls, within per-request caps."""

    def __init__(
        self, *, catalog: Catalog, metering: Metering, max_inputs: int, max_tokens: int
    ) -> None:
        self.catalog = catalog
        self.metering = metering
        self.max_inputs = max_inputs
        self.max_tokens = max_tokens

    async def create(
        self,
        *,
        caller: Caller,
        model: str,
        inputs: Inputs,
        dimensions: int | None = None,
        user: str | None = None,
    ) -> Made:
        """Embed the inputs with an embedding model of the catalog, billed to the caller.

        Raises:
            TooManyEmbeddingInputs: more inputs or tokens than one request may carry.
            UnknownModel: no such model.
            WrongModelMode: the model is not an embedding model.
            ModelUnavailable: the model is not set up.
            BillingError: billing refused the call (seat, budget, rate limit, model).
            ProviderRejected: the provider refused the request (e.g. `dimensions`).
            ProviderError: the provider failed.
        """
        if len(inputs) > self.max_inputs:
            raise TooManyEmbeddingInputs(
                f"An embeddings request takes at most {self.max_inputs} inputs; "
                f"this one has {len(inputs)}.",
                limit=self.max_inputs,
            )
        found = self.catalog.usable(model, caller.team_ids, mode=EMBEDDING)
        counted = await _count(inputs, found.name)
        if counted > self.max_tokens:
            raise TooManyEmbeddingInputs(
                f"An embeddings request takes at most {self.max_tokens} tokens in all; "
                f"this one has about {counted}.",
                limit=self.max_tokens,
            )
        async with self.metering.call(
            caller, found, source="v1", prompt_tokens=counted, max_output_tokens=0
        ) as call:
            try:
                made = await call.embeddings(inputs, dimensions=dimensions, user=user)
            except BaseException:
                await call.settle(MessageStatus.FAILED, FREE, estimated=True)
                raise
            reported = made.prompt_tokens >= 0
            prompt_tokens = made.prompt_tokens if reported else counted
            usage = Usage(prompt_tokens, 0)
            await call.settle(MessageStatus.COMPLETE, usage, estimated=not reported)
        return Made(
            model=found.name,
            vectors=made.vectors,
            prompt_tokens=prompt_tokens,
            headroom=call.headroom,
        )


async def _count(inputs: Inputs, model: str) -> int:
    """Tokens of the inputs: a token array counts its length, a text is counted with tiktoken."""

    def count() -> int:
        return sum(
            tokens.count_text(item, model) if isinstance(item, str) else len(item)
            for item in inputs
        )

    if len(inputs) <= COUNT_ON_LOOP and sum(map(len, inputs)) <= tokens.OFF_LOOP_CHARS:
        return count()
    return await asyncio.to_thread(count)
