"""The identity epoch: a number in the database that goes up with every change to who may call,
and on what terms.

Workers cache resolved API tokens and login sessions (`api.auth_cache`) and what admission reads
of a caller's seat, usage profiles, budgets and rate limits (`billing.terms`); an entry is used
only while the epoch it was read under is still the current one, so a token revoked, a user
deactivated, a membership removed, a session logged out, a seat taken back or a budget, profile or
limit changed through any worker or host is seen by every other on its next request, not after a
timeout. The bump is an UPDATE in the same transaction as the change, made by the one ORM flush
hook in `core.models`, over the classes packages register with `bump_epoch_on_change` (and by the
bulk statements that pass it by: logout, seat removal); reading the epoch is one primary-key lookup
per request.

A missing row (a database emptied by hand) reads as None on every path: then nothing may be kept
or used under an epoch, and callers read afresh."""

from __future__ import annotations

import sqlite3
import weakref
from typing import cast

from sqlalchemy import Connection, Engine, Table, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.database import run_read
from core.models import AuthEpoch

_TABLE = cast(Table, AuthEpoch.__table__)
_READ = select(_TABLE.c.epoch).where(_TABLE.c.id == 1)
_READ_SQL = "SELECT epoch FROM core_auth_epoch WHERE id = 1"
# One plain sqlite3 connection per SQLite engine, for this read alone (closed with the engine).
_direct: weakref.WeakKeyDictionary[Engine, sqlite3.Connection] = weakref.WeakKeyDictionary()


async def current(factory: async_sessionmaker[AsyncSession]) -> int | None:
    """The epoch now (None: the row is missing): one primary-key lookup per request.

    On a SQLite file it is read straight through a connection of its own (~10 us; through a pooled
    SQLAlchemy connection it costs ~150 us, on every authenticated request). A reader never waits
    for a writer under WAL; should SQLite still answer busy, the pooled path waits its turn.
    """
    engine: AsyncEngine = factory.kw["bind"]
    url = engine.url
    if engine.dialect.name == "sqlite" and url.database not in (None, "", ":memory:"):
        try:
            return _read_file(engine.sync_engine, str(url.database))
        except sqlite3.Error:
            pass
    if engine.dialect.name == "postgresql":
        return await _read_autocommit(engine)
    return await run_read(factory, _read_pooled)


def read_in(connection: Connection) -> int | None:
    """The epoch as `connection`'s transaction sees it (None: the row is missing), on the
    driver's own cursor (~5 us; a statement through SQLAlchemy costs ~10 times that, on every
    admission)."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(_READ_SQL)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return None if row is None else int(row[0])


async def _read_autocommit(engine: AsyncEngine) -> int | None:
    """On PostgreSQL, the lookup on the driver's own connection outside a transaction: one round
    trip, where a pooled read is three (BEGIN, SELECT, ROLLBACK) — a third of a `/v1` stream's
    round trips (bench/README.md, "Scaling on PostgreSQL")."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        value = await raw.driver_connection.fetchval(_READ_SQL)  # type: ignore[union-attr]
    return None if value is None else int(value)


def _read_pooled(connection: Connection) -> int | None:
    value = connection.execute(_READ).scalar()
    return None if value is None else int(value)


def _read_file(engine: Engine, path: str) -> int | None:
    connection = _direct.get(engine)
    if connection is None:
        connection = sqlite3.connect(path, timeout=0, check_same_thread=False)
        _direct[engine] = connection
        # Closed when the engine is: an open WAL connection holds a lock on the file, and SQLite
        # keeps the descriptors of every connection closed meanwhile open until it is released.
        event.listen(engine, "engine_disposed", _close_file, once=True)
    row = connection.execute(_READ_SQL).fetchone()
    return None if row is None else int(row[0])


def _close_file(engine: Engine) -> None:
    connection = _direct.pop(engine, None)
    if connection is not None:
        connection.close()
