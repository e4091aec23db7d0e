"""SQLite on the event loop's own thread: aiosqlite's interface without a thread hop per call.

aiosqlite runs every call (cursor, execute, fetch, close, commit) on a worker thread of its own;
a model call's auth, admission and settlement make about eighty such calls, and each hop costs a
thread wake-up and two GIL hand-offs: most of the CPU a streamed call took (bench/README.md).
SQLite answers this project's statements in microseconds, so running them inline is cheaper than
any hop. Waiting for the write lock must never block the loop, though: connections run with no busy
timeout, the writers of one event loop queue on an asyncio lock before `BEGIN IMMEDIATE`, and a
statement that still meets SQLITE_BUSY (another process or event loop holds the lock) is retried
after an asynchronous sleep until the busy timeout, as SQLite's own busy handler would.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from collections.abc import Callable
from typing import Any

import aiosqlite

WRITE_BEGIN = "BEGIN IMMEDIATE"
# Plain SQLITE_BUSY and BUSY_RECOVERY clear by waiting; BUSY_SNAPSHOT (a stale read upgraded to a
# write) never does, so it fails at once, as it does under SQLite's own busy handler.
_RETRIED = {sqlite3.SQLITE_BUSY, 261}
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.05


class WriteGate:
    """One writer at a time among an engine's connections, per event loop, queued fairly."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def lock(self) -> asyncio.Lock:
        """The lock of the running event loop."""
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock


class _RunAtOnce:
    """Stands in for aiosqlite's queue to its worker thread: runs each call when it is put."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except Exception as exc:
            if future is not None:
                future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the calling thread."""

    def __init__(
        self, connector: Callable[[], sqlite3.Connection], gate: WriteGate, busy_seconds: float
    ) -> None:
        # No super().__init__(): it would make the worker thread this class exists to avoid.
        self._running = True
        self._connection: sqlite3.Connection | None = None
        self._connector = connector
        self._tx = _RunAtOnce()  # type: ignore[assignment]
        self._iter_chunk_size = 64
        self._gate = gate
        self._busy_seconds = busy_seconds
        self._held: asyncio.Lock | None = None

    def __await__(self) -> Any:
        return self._connect().__await__()

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        if self._held is None and args and str(args[0]).startswith(WRITE_BEGIN):
            lock = self._gate.lock()
            try:
                async with asyncio.timeout(self._busy_seconds):
                    await lock.acquire()
            except TimeoutError:
                raise sqlite3.OperationalError("database is locked") from None
            self._held = lock
        try:
            return await self._retrying(fn, args, kwargs)
        finally:
            if self._connection is None or not self._connection.in_transaction:
                self._release()

    async def _retrying(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        deadline = 0.0
        pause = _FIRST_PAUSE
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", None) not in _RETRIED:
                    raise
                now = time.monotonic()
                deadline = deadline or now + self._busy_seconds
                if now >= deadline:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, _LONGEST_PAUSE)

    def _release(self) -> None:
        if self._held is not None:
            self._held.release()
            self._held = None

    def stop(self) -> asyncio.Future[Any] | None:
        """Close at once (there is no thread to stop)."""
        self._running = False
        self._release()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        return None

    async def close(self) -> None:
        """Close the connection."""
        self.stop()


def connector(path: str, gate: WriteGate, busy_seconds: float) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy's aiosqlite dialect: inline connections to a file."""

    async def connect() -> InlineConnection:
        def open_file() -> sqlite3.Connection:
            return sqlite3.connect(path, timeout=0, check_same_thread=False)

        connection: InlineConnection = await InlineConnection(open_file, gate, busy_seconds)
        return connection

    return connect
