"""Applying the database migrations: at start, from `switchboard db upgrade`, in tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from core import database
from core.database import async_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for the project's migrations against a database URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    escaped = async_url(url).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", escaped)
    return config


def upgrade_database(url: str) -> None:
    """Bring a database to the newest schema of every package (blocking: not in an event loop)."""
    command.upgrade(alembic_config(url), "heads")


async def upgrade_database_async(url: str) -> None:
    """Bring a database to the newest schema without blocking the event loop."""
    await asyncio.to_thread(upgrade_database, url)


@asynccontextmanager
async def migrated(engine: AsyncEngine, url: str) -> AsyncIterator[None]:
    """Under the database's start-up lock, bring it to the newest schema and keep the lock for
    the body (the bootstrap): processes starting together take their turns, none races."""
    async with database.start_lock(engine):
        await upgrade_database_async(url)
        yield


def upgrade_under_lock(url: str) -> None:
    """`upgrade_database` under the start-up lock, for commands run beside a live server."""

    async def run() -> None:
        engine = database.create_engine(url)
        try:
            async with migrated(engine, url):
                pass
        finally:
            await engine.dispose()

    asyncio.run(run())
