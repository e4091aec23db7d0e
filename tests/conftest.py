"""Fixtures every test may use: the fake upstream, a test catalog, the app and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.environment import prepare_offline

prepare_offline()

from tests.fakes.upstream import FakeUpstream  # noqa: E402
from tests.support import AppHarness, make_catalog  # noqa: E402


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def fake_upstream_server() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def upstream(fake_upstream_server: FakeUpstream) -> FakeUpstream:
    """The fake provider, with behaviours and recordings reset for this test."""
    fake_upstream_server.reset()
    return fake_upstream_server


@pytest.fixture
async def harness(upstream: FakeUpstream, tmp_path: Path) -> AsyncIterator[AppHarness]:
    """A running app (lifespan included) on a fresh SQLite database, with an admin."""
    async with AppHarness.start(make_catalog(upstream.base_url), tmp_path) as running:
        yield running
