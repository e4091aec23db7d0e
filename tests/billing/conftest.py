"""Billing fixtures: a migrated database per test, on SQLite and (when available) PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.migrate import upgrade_database
from core import clock
from core.database import async_url, create_engine, sessionmaker
from tests.billing.builders import SimulatedClock, empty_but_the_epoch
from tests.postgres import postgres_url

__all__ = ["postgres_url"]

Factory = async_sessionmaker[AsyncSession]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgres: needs the PostgreSQL server of SWITCHBOARD_TEST_POSTGRES_URL"
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once keeps the suite fast)."""
    path = tmp_path_factory.mktemp("billing") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "switchboard.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty migrated database of each kind."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[Factory]:
    """A session factory on an empty migrated database."""
    engine = create_engine(async_url(database_url))
    made = sessionmaker(engine)
    if engine.dialect.name == "postgresql":
        await empty_but_the_epoch(made)
    try:
        yield made
    finally:
        await engine.dispose()


@pytest.fixture
def sim_clock() -> Iterator[SimulatedClock]:
    """The process clock, frozen at noon on 2026-03-04 UTC and moved only by the test."""
    simulated = SimulatedClock(datetime(2026, 3, 4, 12, 0, tzinfo=UTC))
    clock.install(simulated.now)
    try:
        yield simulated
    finally:
        clock.install(None)
