"""OpenAI-compatible completions for API clients: metered like chat, saved nowhere.

Unlike chat answers, these are tied to their request: a client that disconnects cancels the call
upstream, as OpenAI clients expect, and is billed for what was delivered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import anyio

from assistant.gateway import Gateway, Usage
from assistant.metering import Metering, Ticket
from assistant.relay import Chunk, ChunkStream
from billing.admission import Caller
from core import tokens
from core.catalog import Catalog, CatalogModel

FORWARDED = {
    "temperature",
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "seed",
    "user",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
}


class Passthrough:
    """Runs `/v1/chat/completions` requests through the gateway with metering."""

    def __init__(
        self, *, catalog: Catalog, gateway: Gateway, metering: Metering, default_max_tokens: int
    ) -> None:
        self.catalog = catalog
        self.gateway = gateway
        self.metering = metering
        self.default_max_tokens = default_max_tokens

    async def admit(
        self, *, caller: Caller, body: Mapping[str, Any]
    ) -> tuple[CatalogModel, Ticket, dict[str, Any]]:
        """Resolve the model and admit the call; returns the arguments to call it with.

        Raises:
            UnknownModel: no such model.
            ModelUnavailable: the model is not set up.
            BillingError: billing refused the call (seat, budget, rate limit, model).
        """
        model = self.catalog.usable(str(body["model"]))
        requested = body.get("max_completion_tokens") or body.get("max_tokens")
        max_tokens = int(requested or model.max_output_tokens or self.default_max_tokens)
        messages = list(body["messages"])
        prompt_tokens = await tokens.count_messages_off_loop(messages, model.name)
        if body.get("tools"):
            prompt_tokens += await tokens.count_text_off_loop(json.dumps(body["tools"]), model.name)
        ticket = await self.metering.admit(
            caller=caller,
            model=model,
            prompt_tokens=prompt_tokens,
            max_output_tokens=max_tokens,
            source="v1",
        )
        extra = {k: v for k, v in body.items() if k in FORWARDED}
        return (
            model,
            ticket,
            {
                "messages": messages,
                "max_tokens": max_tokens,
                "extra": extra,
                "prompt_tokens": prompt_tokens,
            },
        )

    async def complete(
        self, *, model: CatalogModel, ticket: Ticket, call: dict[str, Any]
    ) -> dict[str, Any]:
        """A whole completion in OpenAI's shape, settled before it is returned."""
        try:
            response = await self.gateway.complete(
                model=model,
                messages=call["messages"],
                max_tokens=call["max_tokens"],
                **call["extra"],
            )
        except BaseException:
            await _shielded(
                self.metering.settle(
                    ticket, model=model, status="failed", usage=Usage(0, 0), estimated=True
                )
            )
            raise
        body: dict[str, Any] = response.model_dump(exclude_none=True)
        body["model"] = model.name
        usage = body.get("usage") or {}
        settled = Usage(
            int(usage.get("prompt_tokens", call["prompt_tokens"])),
            int(usage.get("completion_tokens", 0)),
        )
        await _shielded(
            self.metering.settle(
                ticket, model=model, status="completed", usage=settled, estimated=not usage
            )
        )
        return body

    async def stream(
        self, *, model: CatalogModel, ticket: Ticket, call: dict[str, Any]
    ) -> AsyncGenerator[list[bytes]]:
        """Open a streamed completion; returns OpenAI chunks as JSON, a batch per provider read.

        Settled however it ends.

        Raises:
            ProviderError: every deployment failed before the first token.
        """
        try:
            chunks = await self.gateway.stream(
                model=model,
                messages=call["messages"],
                max_tokens=call["max_tokens"],
                extra=call["extra"],
            )
        except BaseException:
            await _shielded(
                self.metering.settle(
                    ticket, model=model, status="failed", usage=Usage(0, 0), estimated=True
                )
            )
            raise
        return self._relay(chunks, model, ticket, call["prompt_tokens"])

    async def _relay(
        self, chunks: AsyncIterator[Chunk], model: CatalogModel, ticket: Ticket, prompt_tokens: int
    ) -> AsyncGenerator[list[bytes]]:
        text: list[str] = []
        usage: Usage | None = None
        status = "cancelled"
        batches = chunks.batches() if isinstance(chunks, ChunkStream) else _one_each(chunks)
        try:
            async for batch in batches:
                out = []
                for chunk in batch:
                    text.append(chunk.text)
                    usage = chunk.usage or usage
                    out.append(_as_json(chunk, model.name))
                yield out
            status = "completed"
        except asyncio.CancelledError:
            raise
        except Exception:
            status = "failed"
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await batches.aclose()  # a client gone: close the provider's stream now
            estimated = usage is None
            if usage is None:
                usage = Usage(prompt_tokens, tokens.count_text("".join(text), model.name))
            await _shielded(
                self.metering.settle(
                    ticket, model=model, status=status, usage=usage, estimated=estimated
                )
            )


async def _one_each(chunks: AsyncIterator[Chunk]) -> AsyncGenerator[list[Chunk]]:
    async for chunk in chunks:
        yield [chunk]


def _as_json(chunk: Chunk, model_name: str) -> bytes:
    """The chunk as OpenAI JSON naming the catalog's model; the provider's bytes when they do."""
    if chunk.data and chunk.raw.get("model") == model_name:
        return chunk.data
    return json.dumps({**chunk.raw, "model": model_name}, separators=(",", ":")).encode()


_BOOKKEEPING: set[asyncio.Task[Any]] = set()


async def _shielded(work: Any) -> Any:
    """Finish bookkeeping even when the request that needs it is being cancelled.

    The work runs in a task of its own (held here until done), awaited inside a shielded cancel
    scope: sse-starlette cancels a disconnected stream through an anyio scope, which cancels every
    later await in it, and a bare `await task` would pass that cancellation on to the settlement.
    """
    task = asyncio.ensure_future(work)
    _BOOKKEEPING.add(task)
    task.add_done_callback(_BOOKKEEPING.discard)
    with anyio.CancelScope(shield=True):
        return await asyncio.shield(task)
