"""PostgreSQL's LISTEN/NOTIFY: one listening connection per process, shared by every waiter.

A writer sends `pg_notify(channel, key)` in the transaction that saved what changed; the
notification is delivered when that transaction commits, and only then. A process keeps one
connection (outside the pool) listening on the channel and wakes the waiters of the key. A payload
is a key (an id), never the data: readers read the row, and a payload must stay under 8000 bytes.

If the connection drops, every waiter is woken at once (each reads once: nothing it missed is
lost) and the connection is made again in the background; once it listens again, every waiter is
woken once more. While it is down, `Watch.wait` returns after the caller's fallback interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
# What connecting or listening may raise when the server is away or drops the connection.
_FAILURES = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Watch:
    """One waiter's wake-ups for one key."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def wait(self, *, idle_seconds: float, fallback_seconds: float) -> bool:
        """Wait for a notification of the key (True) or `idle_seconds` (False); while the
        listening connection is down, `fallback_seconds` at most."""
        timeout = idle_seconds if self._listener.listening else fallback_seconds
        try:
            async with asyncio.timeout(timeout):
                await self._woken.wait()
        except TimeoutError:
            return False
        finally:
            self._woken.clear()
        return True


class Listener:
    """The process's listening connection on one channel (made on first use)."""

    def __init__(self, url: str, channel: str, *, retry_seconds: float = 1.0) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.channel = channel
        self.retry_seconds = retry_seconds
        self._connection: Any = None
        self._lock = asyncio.Lock()
        self._waiters: dict[str, set[Watch]] = {}
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False
        self.notifications = 0  # received, for tests and metrics

    @property
    def listening(self) -> bool:
        """The connection is up and listening."""
        return self._connection is not None and not self._connection.is_closed()

    @property
    def backend_pid(self) -> int | None:
        """The listening connection's server process (what `pg_stat_activity` shows)."""
        return int(self._connection.get_server_pid()) if self.listening else None

    @contextlib.asynccontextmanager
    async def watching(self, key: str) -> AsyncIterator[Watch]:
        """Wake-ups for `key`; the channel is listened to before the body starts, so a
        notification committed after the body's first read is never missed."""
        watch = Watch(self)
        self._waiters.setdefault(key, set()).add(watch)
        try:
            try:
                await self._connect()
            except _FAILURES as exc:
                log.warning("listening on %s failed (%s); retrying", self.channel, exc)
                self._reconnect_later()
            yield watch
        finally:
            watchers = self._waiters.get(key)
            if watchers is not None:
                watchers.discard(watch)
                if not watchers:
                    del self._waiters[key]

    async def close(self) -> None:
        """Stop listening and close the connection (the process is stopping)."""
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            await asyncio.gather(self._reconnecting, return_exceptions=True)
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.remove_termination_listener(self._lost)
            await connection.close(timeout=5)

    async def _connect(self) -> None:
        async with self._lock:
            if self.listening or self._closed:
                return
            connection = await asyncpg.connect(self._dsn, timeout=10)
            try:
                await connection.add_listener(self.channel, self._received)
            except BaseException:
                await connection.close()
                raise
            connection.add_termination_listener(self._lost)
            self._connection = connection

    def _received(self, _connection: Any, _pid: int, _channel: str, key: str) -> None:
        self.notifications += 1
        for watch in self._waiters.get(key, ()):
            watch.wake()

    def _lost(self, connection: Any) -> None:
        if connection is not self._connection:
            return
        self._connection = None
        self._wake_all()
        self._reconnect_later()

    def _wake_all(self) -> None:
        for watchers in self._waiters.values():
            for watch in watchers:
                watch.wake()

    def _reconnect_later(self) -> None:
        if self._closed or (self._reconnecting is not None and not self._reconnecting.done()):
            return
        self._reconnecting = asyncio.get_running_loop().create_task(
            self._reconnect(), name=f"listen {self.channel}"
        )

    async def _reconnect(self) -> None:
        while not self._closed and not self.listening:
            if not self._waiters:
                return  # the next watcher connects
            try:
                await self._connect()
            except _FAILURES as exc:
                log.warning("listening on %s failed (%s); retrying", self.channel, exc)
                await asyncio.sleep(self.retry_seconds)
        self._wake_all()  # what was committed while nobody listened
