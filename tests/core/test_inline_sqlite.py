"""SQLite run inline on the event loop: writers queue without blocking the loop, none is lost."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from core import database, inline_sqlite
from core.database import write_transaction

pytestmark = pytest.mark.anyio


async def _engine(tmp_path: Path) -> AsyncEngine:
    engine = database.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
        await conn.execute(text("INSERT INTO counter VALUES (1, 0)"))
    return engine


async def test_a_sqlite_file_uses_inline_connections_with_no_thread(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, inline_sqlite.InlineConnection)
    await engine.dispose()


async def test_concurrent_write_transactions_queue_and_every_increment_lands(
    tmp_path: Path,
) -> None:
    engine = await _engine(tmp_path)
    factory = database.sessionmaker(engine)

    async def increment() -> None:
        async with write_transaction(factory) as session:
            n = await session.scalar(text("SELECT n FROM counter WHERE id = 1"))
            await asyncio.sleep(0)  # let every other writer try to get in meanwhile
            await session.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})

    await asyncio.wait_for(asyncio.gather(*(increment() for _ in range(40))), timeout=30)
    async with factory() as session:
        assert await session.scalar(text("SELECT n FROM counter WHERE id = 1")) == 40
    await engine.dispose()


async def test_a_writer_in_another_process_or_thread_is_waited_for_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    engine = await _engine(tmp_path)
    factory = database.sessionmaker(engine)
    locked, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        conn = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE counter SET n = 100 WHERE id = 1")
        locked.set()
        release.wait(10)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=other_writer)
    thread.start()
    assert await asyncio.to_thread(locked.wait, 10)

    async def write() -> int:
        async with write_transaction(factory) as session:
            await session.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
            return int(await session.scalar(text("SELECT n FROM counter WHERE id = 1")) or 0)

    writer = asyncio.create_task(write())
    ticks = 0
    for _ in range(20):  # the loop keeps running while the writer waits for the lock
        await asyncio.sleep(0.005)
        ticks += 1
    assert not writer.done() and ticks == 20
    release.set()
    assert await asyncio.wait_for(writer, timeout=10) == 101
    thread.join(5)
    await engine.dispose()


async def test_a_write_lock_never_released_fails_as_database_locked_after_the_busy_timeout(
    tmp_path: Path,
) -> None:
    gate = inline_sqlite.WriteGate()
    path = str(tmp_path / "db.sqlite")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    conn = await inline_sqlite.connector(path, gate, busy_seconds=0.1)()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await conn._execute(conn._conn.execute, "BEGIN IMMEDIATE")
    holder.execute("ROLLBACK")
    await conn._execute(conn._conn.execute, "BEGIN IMMEDIATE")  # the gate was not left held
    await conn.rollback()
    await conn.close()
    holder.close()


def _increment(connection: Connection) -> int:
    n = int(connection.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one())
    connection.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})
    return n + 1


def _fail_after_writing(connection: Connection) -> None:
    connection.execute(text("UPDATE counter SET n = n + 1000 WHERE id = 1"))
    raise RuntimeError("refused")


async def test_run_write_on_a_file_queues_with_every_other_writer_and_rolls_back_a_failure(
    tmp_path: Path,
) -> None:
    engine = await _engine(tmp_path)
    factory = database.sessionmaker(engine)
    holder = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock at first

    async def session_increment() -> None:
        async with write_transaction(factory) as session:
            n = await session.scalar(text("SELECT n FROM counter WHERE id = 1"))
            await asyncio.sleep(0)  # a direct writer tries to get in meanwhile
            await session.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})

    async def failing() -> None:
        with pytest.raises(RuntimeError):
            await database.run_write(factory, _fail_after_writing)

    writers = asyncio.gather(
        *(database.run_write(factory, _increment) for _ in range(20)),
        *(session_increment() for _ in range(20)),
        failing(),
    )
    for _ in range(10):  # the loop runs while they all wait for the other process
        await asyncio.sleep(0.005)
    assert not writers.done()
    holder.execute("ROLLBACK")
    await asyncio.wait_for(writers, timeout=30)
    assert (
        await database.run_read(
            factory, lambda c: c.execute(text("SELECT n FROM counter")).scalar_one()
        )
        == 40
    )
    holder.close()
    await engine.dispose()
