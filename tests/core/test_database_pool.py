"""The PostgreSQL connection pool of `core.database.create_engine`: connections a burst opened are
kept for the next one, and one the server closed is replaced at checkout without a round trip."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.database import async_url, create_engine
from tests.database_passes import on_postgres
from tests.postgres import postgres_url
from tests.support import eventually

__all__ = ["postgres_url"]
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not on_postgres(), reason="PostgreSQL's pool: the PostgreSQL pass tests it"),
]


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(async_url(postgres_url))
    try:
        yield made
    finally:
        await made.dispose()


async def _burst(engine: AsyncEngine, size: int) -> set[int]:
    """`size` connections checked out at once: their backends' process ids."""
    pids = set()
    async with contextlib.AsyncExitStack() as held:
        for _ in range(size):
            connection = await held.enter_async_context(engine.connect())
            pids.add(int(await connection.scalar(text("SELECT pg_backend_pid()"))))
    return pids


async def test_the_connections_a_burst_opened_serve_the_next_burst(engine: AsyncEngine) -> None:
    first = await _burst(engine, 20)
    assert len(first) == 20
    assert await _burst(engine, 20) == first  # none closed on return, none opened again


async def test_a_connection_the_server_closed_is_replaced_when_checked_out(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        dropped = int(await connection.scalar(text("SELECT pg_backend_pid()")))
        driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    plain = engine.url.set(drivername="postgresql")
    admin = await asyncpg.connect(plain.render_as_string(hide_password=False))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", dropped)
    finally:
        await admin.close()
    # The pooled connection learns of it when its socket's end is read: the server's FATAL
    # message can arrive a loop turn before that, and no check without a round trip sees it then.
    await eventually(driver.is_closed)
    async with engine.connect() as connection:
        pid = int(await connection.scalar(text("SELECT pg_backend_pid()")))
    assert pid != dropped
