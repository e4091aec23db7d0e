"""OpenAI-compatible completions for API clients: metered like chat, saved nowhere.

Unlike chat answers, these are tied to their request: a client that disconnects cancels the call
upstream, as OpenAI clients expect, and is billed for what was delivered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from assistant.gateway import chunks as streamed
from assistant.gateway.chunks import FORWARDED, Chunk, Usage, usage_of
from assistant.gateway.metering import FREE, MeteredCall, Metering
from assistant.schemas import MessageStatus
from billing.admission import Caller
from core import tokens
from core.catalog import Catalog


@dataclass(frozen=True)
class Request:
    """An admitted `/v1` request: its metered call and what to call the model with."""

    call: MeteredCall
    messages: list[Any]
    max_tokens: int
    extra: dict[str, Any] = field(default_factory=dict)
    include_usage: bool = False  # the client asked for the usage chunk (stream_options)


class Passthrough:
    """Runs `/v1/chat/completions` requests through metered model calls."""

    def __init__(self, *, catalog: Catalog, metering: Metering, default_max_tokens: int) -> None:
        self.catalog = catalog
        self.metering = metering
        self.default_max_tokens = default_max_tokens

    async def admit(self, *, caller: Caller, body: Mapping[str, Any]) -> Request:
        """Resolve the model and admit the call; returns the request to make.

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
        choices = body.get("n") or 1  # each choice may use max_tokens: reserve them all
        worst = max_tokens * int(choices)
        call = await self.metering.call(
            caller, model, source="v1", prompt_tokens=prompt_tokens, max_output_tokens=worst
        ).admit()
        extra = {k: v for k, v in body.items() if k in FORWARDED}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return Request(call, messages, max_tokens, extra, include_usage)

    async def complete(self, request: Request) -> dict[str, Any]:
        """A whole completion in OpenAI's shape, settled before it is returned."""
        call = request.call
        async with call:
            try:
                response = await call.complete(
                    messages=request.messages, max_tokens=request.max_tokens, **request.extra
                )
            except BaseException:
                # nothing reached the client
                await call.settle(MessageStatus.FAILED, FREE, estimated=True)
                raise
            # the provider's JSON (the gateway's fast path) or LiteLLM's response object
            body: dict[str, Any] = (
                response if isinstance(response, dict) else response.model_dump(exclude_none=True)
            )
            body["model"] = call.model.name
            usage = body.get("usage") or {}
            settled = usage_of(usage) or Usage(call.prompt_tokens, 0)
            await call.settle(MessageStatus.COMPLETE, settled, estimated=not usage)
        return body

    async def stream(self, request: Request) -> AsyncGenerator[list[bytes]]:
        """Open a streamed completion; returns OpenAI chunks as JSON, a batch per provider read.

        Settled however it ends.

        Raises:
            ProviderError: every deployment failed before the first token.
        """
        chunks = await self.stream_chunks(request)
        return _as_openai(chunks, request.call.model.name, usage_chunk=request.include_usage)

    async def stream_chunks(self, request: Request) -> AsyncGenerator[list[Chunk]]:
        """Open a streamed completion; returns its chunks, a batch per provider read, for a
        route that answers in another format (`/v1/messages`). Settled however it ends.

        Raises:
            ProviderError: every deployment failed before the first token.
        """
        call = request.call
        try:
            chunks = await call.stream(
                messages=request.messages, max_tokens=request.max_tokens, extra=request.extra
            )
        except BaseException:
            # nothing reached the client
            await call.settle(MessageStatus.FAILED, FREE, estimated=True)
            raise
        return _relay(call, chunks)


async def _relay(call: MeteredCall, chunks: AsyncIterator[Chunk]) -> AsyncGenerator[list[Chunk]]:
    """The call's chunks; settled when the stream ends, breaks or is cancelled."""
    model_name = call.model.name
    text: list[str] = []
    usage: Usage | None = None
    status = MessageStatus.CANCELLED
    batches = streamed.batches(chunks)
    # What the client has been sent, written to billing about every second by the process's
    # `Deliveries` (a killed process's stream is billed at least that); renewals come every 30 s.
    deliveries = call.metering.deliveries
    delivery = deliveries.open(call.reservation_id, model_name, text)
    try:
        async for batch in batches:
            for chunk in batch:
                text.append(chunk.text)
                if chunk.reasoning:  # billed as output when the provider reports no usage
                    text.append(chunk.reasoning)
                usage = chunk.usage or usage
            yield batch
            delivery.sent = len(text)  # handed on: the next batch is asked for
            # The hold ends with its lease: renew it, with the output so far, while it streams.
            if call.renewal_due():
                so_far = await tokens.count_text_off_loop("".join(text), model_name)
                if not await call.renew(completion_tokens=so_far):
                    return  # billing closed the call (swept, or its hold revoked): stop here
        status = MessageStatus.COMPLETE
    except asyncio.CancelledError:
        raise
    except Exception:
        status = MessageStatus.FAILED
        raise
    finally:
        deliveries.close(delivery)
        with anyio.CancelScope(shield=True):
            await batches.aclose()  # a client gone: close the provider's stream now
        estimated = usage is None
        if usage is None:  # a failed stream still pays for its prompt: the provider read it
            usage = Usage(call.prompt_tokens, tokens.count_text("".join(text), model_name))
        await call.settle(status, usage, estimated=estimated)


async def _as_openai(
    batches: AsyncGenerator[list[Chunk]], model_name: str, *, usage_chunk: bool
) -> AsyncGenerator[list[bytes]]:
    """Each batch of chunks as OpenAI JSON; the usage-only chunk (no choices) only when the client
    asked for it (the provider is always asked, for metering)."""
    try:
        async for batch in batches:
            out = [
                _as_json(chunk, model_name)
                for chunk in batch
                if usage_chunk or chunk.usage is None or chunk.raw.get("choices")
            ]
            if out:
                yield out
    finally:
        await batches.aclose()


def _as_json(chunk: Chunk, model_name: str) -> bytes:
    """The chunk as OpenAI JSON naming the catalog's model; the provider's bytes when they do."""
    if chunk.data and chunk.raw.get("model") == model_name:
        return chunk.data
    return json.dumps({**chunk.raw, "model": model_name}, separators=(",", ":")).encode()
