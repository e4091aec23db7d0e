"""What a model call gives back, whichever path carried it: streamed chunks and the tokens used
(and which of a client's call parameters reach the provider)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

# What a client may set of a provider call, as OpenAI names it (LiteLLM maps each to the provider's
# own, or refuses it: ProviderRejected); never LiteLLM's own options (api_base, api_key, ...).
FORWARDED = {
    "n",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    "modalities",
    "audio",
    "prediction",
    "service_tier",
    "functions",
    "function_call",
    "web_search_options",
    "verbosity",
    "prompt_cache_key",
    "safety_identifier",
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


@dataclass(frozen=True)
class Cached:
    """Of a call's prompt tokens, those the provider read from its prompt cache and those it
    wrote to it (each has a price of its own)."""

    read: int = 0
    written: int = 0


@dataclass(frozen=True)
class Usage:
    """Tokens a call used, as the provider reported them."""

    prompt_tokens: int
    completion_tokens: int
    cached: Cached = Cached()


def usage_of(usage: Mapping[str, Any]) -> Usage | None:
    """The tokens of an OpenAI-shaped `usage` object, as providers and LiteLLM give it; None when
    it has no completion count.

    Cache reads are Anthropic's `cache_read_input_tokens` (LiteLLM passes them on), else OpenAI's
    `prompt_tokens_details.cached_tokens` (OpenAI, Azure, Gemini through LiteLLM); cache writes are
    Anthropic's `cache_creation_input_tokens`. All are part of `prompt_tokens`.
    """
    completion = usage.get("completion_tokens")
    if completion is None:
        return None
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
    read = usage.get("cache_read_input_tokens") or cached or 0
    write = usage.get("cache_creation_input_tokens") or 0
    prompt = int(usage.get("prompt_tokens") or 0)
    return Usage(prompt, int(completion), Cached(read=int(read), written=int(write)))


@dataclass(kw_only=True)
class Chunk:
    """One piece of a streamed answer: text, reasoning, tool-call fragments, usage or a finish
    reason."""

    text: str = ""
    reasoning: str = ""  # the model's thinking, apart from its answer
    usage: Usage | None = None
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    data: bytes = b""  # the chunk's JSON as the provider sent it (relayed calls only)


def reasoning_of(chunk: Chunk) -> str:
    """The reasoning text a chunk carries (LiteLLM's `reasoning_content`, or `reasoning` as
    some OpenAI-compatible servers send it), or ""."""
    if chunk.reasoning:
        return chunk.reasoning
    choices = chunk.raw.get("choices") or [{}]
    return reasoning_in(choices[0].get("delta") or {})


def reasoning_in(delta: Mapping[str, Any]) -> str:
    """The reasoning text of a streamed choice's `delta`, or ""."""
    thought = delta.get("reasoning_content") or delta.get("reasoning")
    return thought if isinstance(thought, str) else ""


async def close_stream(chunks: AsyncIterator[Chunk]) -> None:
    """Close a stream of chunks now, and its provider connection with it (a no-op once ended)."""
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()


def batches(chunks: AsyncIterator[Chunk]) -> AsyncGenerator[list[Chunk]]:
    """The stream's chunks a provider read at a time when its path reads that way (the relay's),
    else one by one."""
    batched = getattr(chunks, "batches", None)
    if batched is not None:
        return cast("AsyncGenerator[list[Chunk]]", batched())
    return _one_each(chunks)


async def _one_each(chunks: AsyncIterator[Chunk]) -> AsyncGenerator[list[Chunk]]:
    async for chunk in chunks:
        yield [chunk]


def without_nulls(value: Any) -> Any:
    """A JSON value with its objects' null members left out, at every depth."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return [without_nulls(v) for v in value] if isinstance(value, list) else value
