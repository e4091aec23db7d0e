"""A fresh PostgreSQL database for tests, on the server `.ci/postgres.sh` starts.

Import the fixture into a conftest (`from tests.postgres import postgres_url`). It creates a
randomly named database per test session (per xdist worker), migrates it with the app's own
migrations, and drops it at the end. Without SWITCHBOARD_TEST_POSTGRES_URL the tests are skipped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Iterator

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.migrate import upgrade_database

ENV = "SWITCHBOARD_TEST_POSTGRES_URL"
SKIP_REASON = f'PostgreSQL tests need {ENV}: run `export {ENV}="$(.ci/postgres.sh)"` (CI sets it)'


def server_url() -> str | None:
    """The test server's URL (`postgresql://user@host:port/postgres`), or None when not set."""
    return os.environ.get(ENV) or None


async def _admin(server: str, statement: str) -> None:
    url = make_url(server).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database(server: str, *, migrate: bool = True) -> str:
    """Create a randomly named database on the server, migrated unless told not to; returns its
    plain URL."""
    name = "switchboard_test_" + secrets.token_hex(6)
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    if migrate:
        upgrade_database(url)
    return url


def execute(url: str, sql: str) -> None:
    """Run SQL (one or more statements, no parameters) on a database of the test server."""
    asyncio.run(_admin(url, sql))


_TEMPLATES: dict[str, str] = {}
_TEMPLATES_LOCK = threading.Lock()


def copy_of_migrated(server: str) -> str:
    """A new database with the newest schema, copied (`CREATE DATABASE ... TEMPLATE`, ~0.2 s)
    from one this process migrated once (migrating takes seconds); returns its plain URL."""
    with _TEMPLATES_LOCK:
        if server not in _TEMPLATES:
            _TEMPLATES[server] = create_database(server)
        template = make_url(_TEMPLATES[server]).database
        name = "switchboard_test_" + secrets.token_hex(6)
        asyncio.run(_admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_database(server: str, url: str) -> None:
    """Drop a database made by `create_database`, disconnecting whoever is left."""
    name = make_url(url).database
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def empty_database(factory: async_sessionmaker[AsyncSession]) -> None:
    """Delete every row of every table but Alembic's, so a test starts from a clean database."""
    async with factory() as session:
        names = await session.scalars(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        )
        tables = ", ".join(f'"{n}"' for n in names)
        if tables:
            await session.execute(text(f"TRUNCATE {tables} CASCADE"))
        await session.commit()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated database of its own for this test session, dropped at the end."""
    server = server_url()
    if server is None:
        pytest.skip(SKIP_REASON)
    url = create_database(server)
    try:
        yield url
    finally:
        drop_database(server, url)
