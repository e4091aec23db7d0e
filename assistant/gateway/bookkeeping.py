"""Bookkeeping that finishes even when the task that needs it is being cancelled (a client gone
mid-stream cancels the task that must still settle its call)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.database import writes_inline

T = TypeVar("T")
_BOOKKEEPING: set[asyncio.Future[Any]] = set()


async def settled(
    factory: async_sessionmaker[AsyncSession],
    settling: Callable[[], Coroutine[Any, Any, T]],
    *,
    inline: bool | None = None,
) -> T:
    """`settling()`'s write, finished even when the caller is being cancelled.

    On a SQLite file (`writes_inline`, or `inline` when the caller knows it) it runs on the
    caller's task (no task of its own, ~15 us a stream: bench/README.md): a cancellation can only
    reach it while it waits for the write lock, before anything is written, and the write is then
    made in a shielded task before the cancellation goes on. Elsewhere (a commit is awaited)
    always in the shielded task.
    """
    if writes_inline(factory) if inline is None else inline:
        try:
            return await settling()
        except asyncio.CancelledError:
            await shielded(settling())
            raise
    return await shielded(settling())


async def shielded(work: Coroutine[Any, Any, T]) -> T:
    """Finish bookkeeping even when the task that needs it is being cancelled.

    The work runs in a task of its own (held here until done), awaited inside a shielded cancel
    scope: sse-starlette cancels a disconnected stream through an anyio scope, which cancels every
    later await in it, and a bare `await task` would pass that cancellation on to the settlement.
    """
    task = asyncio.ensure_future(work)
    _BOOKKEEPING.add(task)
    task.add_done_callback(_BOOKKEEPING.discard)
    with anyio.CancelScope(shield=True):
        result = await asyncio.shield(task)
    return result
