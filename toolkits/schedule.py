"""Tool lists kept fresh: every external toolkit is listed again in the background, as its owner.

A toolkit's tools are stored (the cache every chat reads) and listed again once they are older
than the interval. A definition that changed keeps its old approval, so the tool is disabled until
an editor approves it again; a tool seen for the first time waits for an editor too. A toolkit
whose headers take assistant secrets cannot be listed outside a chat and is skipped; one whose
owner must sign in again records that as the owner's connection state.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock
from core.errors import SwitchboardError
from core.models import User
from toolkits.models import Toolkit
from toolkits.oauth import aware

log = logging.getLogger(__name__)
Refresh = Callable[[Toolkit, User], Awaitable[object]]


class RefreshSchedule:
    """Lists stale toolkits again every `interval_seconds`, in a background task."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        refresh: Refresh,
        interval_seconds: float,
    ) -> None:
        self.sessions = sessions
        self.refresh = refresh
        self.interval_seconds = interval_seconds
        self.passes = 0
        self._task: asyncio.Task[None] | None = None
        self._retry_at: dict[str, float] = {}
        self._pass_done = asyncio.Condition()

    def start(self) -> None:
        """Begin refreshing in the background (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="toolkit refresh")

    async def stop(self, wait_seconds: float = 5.0) -> None:
        """Stop refreshing; a refresh that does not end within `wait_seconds` of being cancelled
        (a tool server's connection that ignores it) is left behind and logged with where it
        hangs, so a shutdown never waits on it."""
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=wait_seconds)
            if not done:
                where = io.StringIO()
                task.print_stack(file=where)
                log.warning("a toolkit refresh ignored its cancellation: %s", where.getvalue())
            elif not task.cancelled() and task.exception() is not None:
                log.warning("the toolkit refresh ended with %r", task.exception())

    async def _loop(self) -> None:
        tick = min(max(self.interval_seconds / 4, 0.05), 60.0)
        while True:
            try:
                await self.run_due()
            except Exception:
                log.exception("refreshing toolkits failed")
            async with self._pass_done:
                self.passes += 1
                self._pass_done.notify_all()
            await anyio.sleep(tick)

    async def next_pass(self, timeout: float) -> None:
        """Wait until a pass that starts after this call has finished.

        Raises:
            TimeoutError: none finished within `timeout` seconds.
        """
        async with self._pass_done:
            target = self.passes + 2  # the pass running now may have read the old state
            await asyncio.wait_for(self._pass_done.wait_for(lambda: self.passes >= target), timeout)

    async def run_due(self) -> int:
        """List every toolkit whose tools are older than the interval; returns how many."""
        stale_before = clock.now() - timedelta(seconds=self.interval_seconds)
        async with self.sessions() as session:
            rows = await session.scalars(select(Toolkit).where(Toolkit.refreshed_at.is_not(None)))
            due = [
                t
                for t in rows
                if t.refreshed_at is not None
                and aware(t.refreshed_at) <= stale_before
                and self._retry_at.get(t.id, 0.0) <= time.monotonic()
            ]
            owners = {t.owner_id: await session.get(User, t.owner_id) for t in due}
        done = 0
        for toolkit in due:
            owner = owners.get(toolkit.owner_id)
            if owner is None or not owner.active:
                continue
            self._retry_at[toolkit.id] = time.monotonic() + self.interval_seconds
            try:
                await self.refresh(toolkit, owner)
            except SwitchboardError as exc:
                log.info("toolkit %s not refreshed: %s", toolkit.id, exc.message)
                continue
            done += 1
        return done
