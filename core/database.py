"""The database: one declarative Base, the async engine and sessions, SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import fcntl
import os
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, DateTime, Engine, MetaData, String, TypeDecorator, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.pool import ConnectionPoolEntry

from core import clock, ids, inline_sqlite

P = ParamSpec("P")
T = TypeVar("T")
# A SQLite file's synchronous twin for `run_write` / `run_read` (`inline_sqlite.Direct`).
_DIRECT: weakref.WeakKeyDictionary[Engine, inline_sqlite.Direct] = weakref.WeakKeyDictionary()

# The PostgreSQL advisory lock held while a process migrates and bootstraps ("SWBDSTRT").
START_LOCK_KEY = 0x5357424453545254
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite drops the zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return clock.as_utc(value) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return clock.as_utc(value) if value is not None else None


class Base(DeclarativeBase):
    """The one declarative base; every table of every package derives from it."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class IdMixin:
    """A string primary key made by `core.ids.new_id`."""

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=ids.new_id)


class TimestampMixin:
    """`created_at` and `updated_at`, set from the process clock."""

    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


def async_url(url: str) -> str:
    """The URL users write (`postgresql://...`, `sqlite:///...`) with the async driver we use."""
    parsed = make_url(url)
    driver = {
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
        "sqlite": "sqlite+aiosqlite",
    }
    name = driver.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=name).render_as_string(hide_password=False)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout so writers queue.

    A SQLite file is opened through `core.inline_sqlite` (statements run on the event loop's
    thread, waits for the write lock are asynchronous); other SQLite URLs use aiosqlite as is.
    """
    if url.startswith("sqlite"):
        path = make_url(url).database
        inline = bool(path) and path != ":memory:" and not make_url(url).query
        if inline:
            gate = inline_sqlite.WriteGate()
            kwargs.setdefault("async_creator", inline_sqlite.connector(str(path), gate, 30.0))
            # Writers wait for the write lock holding a pooled connection; past the pool, each
            # call would open (and close) a connection of its own, the costliest part of a call
            # under load. An idle SQLite connection costs a few kB.
            kwargs.setdefault("pool_size", 64)
            kwargs.setdefault("max_overflow", 64)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        busy_ms = 0 if inline else 30000
        if inline:
            direct = _DIRECT[engine.sync_engine] = inline_sqlite.Direct(str(path), gate, 30.0)
            event.listen(engine.sync_engine, "engine_disposed", lambda _e: direct.dispose())

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            # SQLAlchemy emits BEGIN itself, so BEGIN IMMEDIATE can take the write lock up front.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Any) -> None:
            mode = connection.get_execution_options().get("sqlite_begin", "BEGIN")
            connection.exec_driver_sql(mode)

        return engine
    # PostgreSQL: up to 30 connections a process, each kept once opened. A pool of 10 with 20
    # overflow closed every connection past the tenth when it was returned and opened one again at
    # the next burst: with two workers under /v1 load, 0.14 new sessions a stream (a backend forked,
    # its catalog caches and every prepared statement built again), ~2 ms of PostgreSQL CPU a
    # stream (bench/scaling.py). Opened lazily: an idle process holds what it once needed at once.
    # A connection the server closed is replaced at checkout: asyncpg says so without a round
    # trip (`_alive`); a driver without such a check pings first (`pool_pre_ping`).
    cheap_check = make_url(url).get_driver_name() == "asyncpg"
    kwargs.setdefault("pool_pre_ping", not cheap_check)
    engine = create_async_engine(url, pool_size=30, max_overflow=0, **kwargs)
    if cheap_check:
        event.listen(engine.sync_engine, "checkout", _alive)
    return engine


def _alive(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """At checkout, a connection the server closed (a restart, `pg_terminate_backend`, an idle
    timeout) is replaced: asyncpg marks it closed when its socket ends, so this costs no round trip
    (`pool_pre_ping`'s `SELECT` was 8% of a worker's CPU under /v1 load, three a call)."""
    connection = record.driver_connection
    if connection is not None and connection.is_closed():
        raise DisconnectionError("the server closed this connection")


def loaded(cls: type[T], values: Mapping[str, Any]) -> T:
    """A `cls` object holding `values` as a query would load them (no change history), without
    its constructor's per-attribute events: ~4 us against ~70 us for a row of twenty columns.
    For the objects every model call builds from rows it already has (admission, settlement)."""
    obj: T = manager_of_class(cls).new_instance()
    obj.__dict__.update(values)
    return obj


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def write_transaction(
    factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A short transaction, committed on success, that takes SQLite's write lock up front.

    On SQLite it begins with BEGIN IMMEDIATE so concurrent writers queue instead of failing; on
    PostgreSQL it is an ordinary transaction and callers use row locks or conditional updates.
    """
    async with factory() as session:
        if factory.kw["bind"].dialect.name == "sqlite":
            await session.connection(execution_options={"sqlite_begin": "BEGIN IMMEDIATE"})
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def writes_inline(factory: async_sessionmaker[AsyncSession]) -> bool:
    """Whether `run_write` on this factory never waits once it holds the write lock (a SQLite
    file: `inline_sqlite.Direct` runs the work and the commit without an await): a caller
    cancelled while awaiting it knows that nothing was committed."""
    engine: AsyncEngine = factory.kw["bind"]
    return engine.sync_engine in _DIRECT


async def run_read(
    factory: async_sessionmaker[AsyncSession],
    work: Callable[Concatenate[Connection, P], T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run `work(connection, ...)` on a pooled connection in one greenlet hop, no ORM session:
    the reads of every model call (rolled back, nothing to commit)."""
    engine: AsyncEngine = factory.kw["bind"]
    direct = _DIRECT.get(engine.sync_engine)
    if direct is not None:
        return direct.read(work, *args, **kwargs)
    async with engine.connect() as connection:
        return await connection.run_sync(work, *args, **kwargs)


def thread_reader(factory: async_sessionmaker[AsyncSession]) -> Callable[..., Any] | None:
    """`run_read` for a worker thread, run on that thread, when the database allows it (a
    SQLite file: its inline connections are pooled and thread-safe), else None: a search in a
    thread then reads without a round trip through the event loop (~1.6 ms CPU, bench/README.md).
    """
    engine: AsyncEngine = factory.kw["bind"]
    direct = _DIRECT.get(engine.sync_engine)
    return direct.read if direct is not None else None


async def run_write(
    factory: async_sessionmaker[AsyncSession],
    work: Callable[Concatenate[Connection, P], T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run `work(connection, ...)` in one short write transaction, committed if it returns.

    For the statements of every model call (admission, settlement): plain SQLAlchemy Core on one
    connection, all of it in one greenlet hop, no ORM session or identity map. Takes SQLite's
    write lock up front like `write_transaction`; rolls back if `work` raises. On a SQLite file
    it runs on a plain synchronous connection (`inline_sqlite.Direct`), the lock awaited first.
    """
    engine: AsyncEngine = factory.kw["bind"]
    direct = _DIRECT.get(engine.sync_engine)
    if direct is not None:
        return await direct.write(work, *args, **kwargs)
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            await connection.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        async with connection.begin():
            return await connection.run_sync(work, *args, **kwargs)


@asynccontextmanager
async def start_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold the database's start-up lock for the body: one process at a time migrates and
    bootstraps, so workers or hosts starting together on a fresh database never race.

    PostgreSQL: a session advisory lock on a connection of its own (released at the end, or
    when the connection drops). A SQLite file: an exclusive `flock` on `<file>.lock` beside it
    (released when the file is closed, also when the process dies). In-memory SQLite: none.
    """
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": START_LOCK_KEY})
            await connection.commit()  # the lock is the session's, not the transaction's
            try:
                yield
            finally:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": START_LOCK_KEY}
                )
                await connection.commit()
        return
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    descriptor = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)
