"""What a model call gives back, whichever path carried it: streamed chunks and the tokens used."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast


@dataclass(frozen=True)
class Usage:
    """Tokens a call used, as the provider reported them."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(kw_only=True)
class Chunk:
    """One piece of a streamed answer: text, tool-call fragments, usage or a finish reason."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    data: bytes = b""  # the chunk's JSON as the provider sent it (relayed calls only)


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
