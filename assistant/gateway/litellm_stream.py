"""LiteLLM's streams as chunks in OpenAI's shape, and reading a lazily opened stream's first
chunk (some formats, Gemini's, only send the request when the stream is first read)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from assistant.errors import ProviderError
from assistant.gateway.chunks import Chunk, reasoning_of, usage_of

# Providers whose streams LiteLLM opens only when the first chunk is read: a failure before the
# first token surfaces there, after LiteLLM's retries, so the gateway retries it itself.
LAZY_STREAMS = frozenset({"gemini", "vertex_ai", "vertex_ai_beta"})


async def opened(chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
    """`chunks` once its first chunk arrived (its failure is raised here); an empty stream stays
    empty."""
    try:
        first: Chunk | None = await anext(chunks)
    except StopAsyncIteration:
        first = None

    async def resumed() -> AsyncIterator[Chunk]:
        if first is not None:
            yield first
            async for chunk in chunks:
                yield chunk

    return resumed()


async def chunks_of(
    response: Any, model_name: str, domain_error: Callable[[Exception, str], Exception]
) -> AsyncIterator[Chunk]:
    """LiteLLM's stream as chunks in OpenAI's shape, whatever the provider's format: one id for
    the whole stream (its Ollama path makes one per chunk), `finish_reason` null until the end,
    no chunk that says nothing (Azure's opening prompt-filter chunk) and none of LiteLLM's
    provider-specific keys (`vertex_ai_*` on Gemini's chunks)."""
    stream_id: str | None = None
    try:
        async for item in response:
            chunk = _chunk(item)
            if not chunk.raw.get("choices") and chunk.usage is None:
                continue
            stream_id = stream_id or chunk.raw.get("id")
            if stream_id:
                chunk.raw["id"] = stream_id
            yield chunk
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if stream_id is None:  # some formats (Gemini's) only fail once the stream is read
            raise domain_error(exc, model_name) from exc
        # The provider took the request and started answering: whatever LiteLLM makes of a
        # failure now (an Ollama error line is a KeyError to it), it is the provider's.
        raise ProviderError(
            f"The provider of {model_name} failed while answering. Try again, or pick another "
            "model.",
            model=model_name,
            providerStatus=getattr(exc, "status_code", None),
        ) from exc


def _chunk(item: Any) -> Chunk:
    raw = item.model_dump(exclude_none=True)
    chunk = Chunk(raw={k: v for k, v in raw.items() if not k.startswith("vertex_ai_")})
    for choice in chunk.raw.get("choices") or ():
        choice.setdefault("finish_reason", None)
    usage = chunk.raw.get("usage")
    if isinstance(usage, dict):
        chunk.usage = usage_of(usage)
    choices = getattr(item, "choices", None) or []
    if choices:
        choice = choices[0]
        delta = getattr(choice, "delta", None)
        chunk.text = (getattr(delta, "content", None) or "") if delta is not None else ""
        chunk.finish_reason = getattr(choice, "finish_reason", None)
        chunk.reasoning = reasoning_of(chunk)
        calls = getattr(delta, "tool_calls", None) if delta is not None else None
        if calls:
            chunk.tool_calls = [
                c.model_dump() if hasattr(c, "model_dump") else dict(c) for c in calls
            ]
    return chunk
