"""Serving processes: alive while they beat; dead when silent too long, or at once when they ran on
this host and their pid is gone, or is this process's own from before it started (a restart in the
same container)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.migrate import upgrade_database_async
from core import clock, processes
from core.database import async_url, create_engine, sessionmaker, write_transaction
from core.models import ServingProcess
from core.processes import Process
from tests.support import fresh_database_url

pytestmark = pytest.mark.anyio
Factory = async_sessionmaker[AsyncSession]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def factory(tmp_path: Path) -> AsyncIterator[Factory]:
    url = fresh_database_url() or f"sqlite:///{tmp_path / 'processes.db'}"
    await upgrade_database_async(url)
    engine = create_engine(async_url(url))
    try:
        yield sessionmaker(engine)
    finally:
        await engine.dispose()


def _gone_pid() -> int:
    """The pid of a process that has just exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def test_only_processes_that_stopped_without_leaving_are_dead(factory: Factory) -> None:
    me = Process()
    beating_elsewhere = Process(host="another-host", pid=me.pid)
    silent_elsewhere = Process(host="another-host", pid=12345)
    gone_here = Process(host=me.host, pid=_gone_pid())
    my_predecessor = Process(host=me.host, pid=me.pid)  # same container, same pid, new start
    app_beside_me = Process(host=me.host, pid=me.pid)  # a second app in this very process
    left = Process(host="another-host", pid=7)
    everyone = (me, beating_elsewhere, silent_elsewhere, gone_here, my_predecessor, app_beside_me)
    for process in (*everyone, left):
        await processes.register(factory, process)
    await processes.leave(factory, left)
    async with write_transaction(factory) as session:
        await session.execute(
            update(ServingProcess)
            .where(ServingProcess.id == silent_elsewhere.id)
            .values(seen_at=clock.now() - processes.STALE_AFTER - timedelta(seconds=1))
        )
        await session.execute(  # it registered before this process began
            update(ServingProcess)
            .where(ServingProcess.id == my_predecessor.id)
            .values(started_at=datetime.now(UTC) - timedelta(days=1))
        )
    dead = await processes.dead(factory, me)
    assert sorted(dead) == sorted([silent_elsewhere.id, gone_here.id, my_predecessor.id])
    await processes.forget(factory, dead)
    assert await processes.dead(factory, me) == []


async def test_a_beat_registers_again_a_process_taken_for_dead(factory: Factory) -> None:
    me, other = Process(), Process(host="another-host", pid=1)
    await processes.register(factory, other)
    await processes.forget(factory, [other.id])  # another worker judged it dead
    await processes.beat(factory, other)
    await processes.beat(factory, me)  # never registered: the beat registers it
    assert await processes.dead(factory, Process(host="third-host")) == []
