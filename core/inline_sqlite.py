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
from typing import Any, TypeVar

import aiosqlite
import sqlalchemy
from sqlalchemy.engine.interfaces import DBAPIConnection

T = TypeVar("T")

WRITE_BEGIN = "BEGIN IMMEDIATE"
# Plain SQLITE_BUSY and BUSY_RECOVERY clear by waiting; BUSY_SNAPSHOT (a stale read upgraded to a
# write) never does, so it fails at once, as it does under SQLite's own busy handler.
_RETRIED = {sqlite3.SQLITE_BUSY, 261}
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.05
# What every connection to a file sets (`core.database.create_engine`'s for its pool).
_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=0",
    "PRAGMA synchronous=NORMAL",
)


class WriteGate:
    """One writer at a time among an engine's connections, per event loop, queued fairly."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = (
            weakref.WeakKeyDictionary()
        )
        # The loop asked last and its lock: a process serves from one loop, and the weak mapping
        # cost ~2 us a write to look up (a weak reference made each time).
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], _Turns] | None = None

    def lock(self) -> _Turns:
        """The lock of the running event loop."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = _Turns()
        self._last = (weakref.ref(loop), lock)
        return lock

    async def acquire(self, busy_seconds: float) -> asyncio.Lock:
        """Take the running loop's lock, waiting in turn for at most `busy_seconds`; returns it
        (release it when done). A free lock nobody waits for is taken without arming a timeout.

        Raises:
            sqlite3.OperationalError: "database is locked": the wait ran out.
        """
        lock = self.lock()
        if lock.take_if_free():
            return lock
        try:
            async with asyncio.timeout(busy_seconds):
                await lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        return lock


class _Turns(asyncio.Lock):
    """An asyncio lock that can be taken without awaiting when it is free and nobody waits for
    it: what `acquire` does then too, but `acquire` is awaited under a timeout (a timer armed
    and cancelled, ~3 us) in case it has to wait."""

    def take_if_free(self) -> bool:
        if self._waiters or self.locked():
            return False
        self._locked = True
        return True


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
            self._held = await self._gate.acquire(self._busy_seconds)
        try:
            return await _retried(lambda: fn(*args, **kwargs), self._busy_seconds)
        finally:
            if self._connection is None or not self._connection.in_transaction:
                self._release()

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


class Direct:
    """The short transactions of every model call (`core.database.run_write` / `run_read`) run on
    plain synchronous SQLAlchemy connections to the same file: no greenlet and no awaitable per
    cursor call, which cost more than SQLite itself. Only the wait is asynchronous: writers queue
    on the engine's `WriteGate` (shared with the async connections), then `BEGIN IMMEDIATE` is
    retried after asynchronous sleeps while another process holds the lock. Once it is taken no
    statement of the transaction can meet SQLITE_BUSY under WAL, so the rest runs at once."""

    def __init__(self, path: str, gate: WriteGate, busy_seconds: float) -> None:
        self._gate = gate
        self._busy_seconds = busy_seconds

        def open_file() -> sqlite3.Connection:
            connection = sqlite3.connect(path, timeout=0, check_same_thread=False)
            connection.isolation_level = None  # BEGIN is ours
            for pragma in _PRAGMAS:
                connection.execute(pragma)
            return connection

        # Writers are one at a time per process (the gate): few connections are ever in use.
        self.engine = sqlalchemy.create_engine(
            "sqlite+pysqlite://",
            creator=open_file,
            poolclass=sqlalchemy.QueuePool,
            pool_size=4,
            max_overflow=60,
        )
        # The writers of one event loop take turns (the gate), so each loop keeps one connection
        # for its writes: no pool checkout and return around every transaction (~10 us of the
        # two a model call makes, bench/README.md).
        self._writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, sqlalchemy.Connection]
        self._writers = weakref.WeakKeyDictionary()
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], sqlalchemy.Connection] | None
        self._last = None  # the loop that wrote last and its connection (as `WriteGate._last`)

    async def write(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`work(connection, ...)` in one write transaction, committed if it returns."""
        lock = await self._gate.acquire(self._busy_seconds)
        try:
            connection = self._writer()
            raw = connection.connection.dbapi_connection
            assert raw is not None
            if not _begun(raw):  # another process holds SQLite's lock: wait for it
                await _retried(lambda: raw.execute(WRITE_BEGIN), self._busy_seconds)
            # No SQLAlchemy transaction up front (pysqlite emits nothing for one; its begin and
            # commit cost ~5 us a write): a statement run through SQLAlchemy begins one, and it
            # commits through it then; statements on the driver alone commit on the driver.
            try:
                result = work(connection, *args, **kwargs)
                if connection.in_transaction():
                    connection.commit()
                else:
                    raw.commit()
                return result
            finally:
                if connection.in_transaction():
                    connection.rollback()
                if raw.in_transaction:  # a failed COMMIT leaves it open
                    raw.rollback()
        finally:
            lock.release()

    def _writer(self) -> sqlalchemy.Connection:
        """The running loop's write connection (used only while its gate is held), opened again
        if SQLAlchemy closed or invalidated it."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:
            connection: sqlalchemy.Connection | None = last[1]
        else:
            connection = self._writers.get(loop)
        if connection is None or connection.closed or connection.invalidated:
            if connection is not None:
                connection.close()
            connection = self._writers[loop] = self.engine.connect()
        elif last is not None and last[1] is connection:
            return connection
        self._last = (weakref.ref(loop), connection)
        return connection

    def read(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`work(connection, ...)` in one read transaction (one snapshot), rolled back."""
        with self.engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            assert raw is not None
            raw.execute("BEGIN")
            try:
                with connection.begin():
                    return work(connection, *args, **kwargs)
            finally:
                if raw.in_transaction:
                    raw.rollback()

    def dispose(self) -> None:
        """Close the kept write connections and the pooled ones."""
        for connection in list(self._writers.values()):
            connection.close()
        self._writers.clear()
        self._last = None
        self.engine.dispose()


def _begun(raw: DBAPIConnection) -> bool:
    """Whether `BEGIN IMMEDIATE` took SQLite's write lock at once (False: busy, try again)."""
    try:
        raw.execute(WRITE_BEGIN)
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) not in _RETRIED:
            raise
        return False
    return True


async def _retried(call: Callable[[], T], busy_seconds: float) -> T:
    """`call()`, tried again with growing asynchronous pauses while another connection holds
    SQLite's lock (busy), for at most `busy_seconds`."""
    deadline = 0.0
    pause = _FIRST_PAUSE
    while True:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in _RETRIED:
                raise
            now = time.monotonic()
            deadline = deadline or now + busy_seconds
            if now >= deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)
