"""Applying the database migrations: at start, from `switchboard db upgrade`, in tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

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
