"""The processes serving one database: each says it is alive every few seconds.

Work a process owns and only it can finish (an answer being written) records the process's id.
When the process dies, that work is found and ended by whoever looks next: a process is dead when
it has not been seen for `STALE_AFTER`, or at once when it ran on this host and its pid is gone or
is this process's own but it started before this process did (a restart in the same container
gets the same pid). A clean stop removes the row.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock, ids
from core.database import write_transaction
from core.models import ServingProcess

STALE_AFTER = timedelta(seconds=15)
_TABLE = cast(Table, ServingProcess.__table__)
_STARTED = datetime.now(UTC)  # (about) when this process started: before any app in it registers


@dataclass(frozen=True)
class Process:
    """This process, as others see it in the database."""

    id: str = field(default_factory=ids.new_id)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


async def register(factory: async_sessionmaker[AsyncSession], process: Process) -> None:
    """Say this process serves the database."""
    row = {"id": process.id, "host": process.host[:255], "pid": process.pid}
    started = datetime.now(UTC)  # the real time, whatever clock tests install: see `dead`
    async with write_transaction(factory) as session:
        await session.execute(insert(_TABLE).values(**row, started_at=started, seen_at=clock.now()))


async def beat(factory: async_sessionmaker[AsyncSession], process: Process) -> None:
    """Say this process is still alive (registering it again if its row was taken as dead)."""
    async with write_transaction(factory) as session:
        result = await session.execute(
            update(_TABLE).where(_TABLE.c.id == process.id).values(seen_at=clock.now())
        )
    if not result.rowcount:  # type: ignore[attr-defined]
        await register(factory, process)


async def leave(factory: async_sessionmaker[AsyncSession], process: Process) -> None:
    """A clean stop: this process serves no more."""
    async with write_transaction(factory) as session:
        await session.execute(delete(_TABLE).where(_TABLE.c.id == process.id))


async def dead(factory: async_sessionmaker[AsyncSession], me: Process) -> list[str]:
    """The ids of processes that stopped without leaving (never `me`)."""
    cutoff = clock.now() - STALE_AFTER
    columns = (_TABLE.c.id, _TABLE.c.host, _TABLE.c.pid, _TABLE.c.started_at, _TABLE.c.seen_at)
    async with factory() as session:
        rows = (await session.execute(select(*columns))).all()
    return [
        row.id
        for row in rows
        if row.id != me.id
        and (
            clock.as_utc(row.seen_at) < cutoff
            or (row.host == me.host and _gone(row.pid, me.pid, clock.as_utc(row.started_at)))
        )
    ]


async def forget(factory: async_sessionmaker[AsyncSession], process_ids: list[str]) -> None:
    """Remove dead processes once their work has been ended."""
    if process_ids:
        async with write_transaction(factory) as session:
            await session.execute(delete(_TABLE).where(_TABLE.c.id.in_(process_ids)))


def _gone(pid: int, my_pid: int, started: datetime) -> bool:
    """Whether a process of this host has ended: its pid is free, or is this process's and it
    registered before this process began (two apps in one process are both alive)."""
    if pid == my_pid:
        return started < _STARTED
    return not _alive(pid)


def _alive(pid: int) -> bool:
    if pid <= 0:  # not a process id (0 and below name process groups): ask the clock instead
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
