"""The bounded pool of worker processes for CPU-bound work."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from core.worker_pool import WorkerPool
from tests.core.pool_tasks import pid_after
from tests.support import eventually

pytestmark = pytest.mark.anyio


async def test_a_task_timing_out_in_the_queue_leaves_the_running_workers_alone(
    tmp_path: Path,
) -> None:
    pool = WorkerPool(1)
    started = tmp_path / "started"
    try:
        before = await pool.run(30, pid_after, 0)  # the worker is up
        running = asyncio.create_task(pool.run(30, pid_after, 1.0, str(started)))
        # The executor hands a worker's next tasks over early (its call queue): fill that first.
        queued = [asyncio.create_task(pool.run(30, pid_after, 0)) for _ in range(2)]
        await eventually(started.exists, seconds=10, interval=0.01)
        with pytest.raises(TimeoutError):
            await pool.run(0.2, pid_after, 0)  # never started: dropped, nothing killed
        pids = await asyncio.gather(running, *queued)
        assert set(pids) == {before}  # the same worker throughout, never killed
    finally:
        pool.shutdown()


async def test_a_running_task_past_its_deadline_is_killed_and_the_pool_serves_again() -> None:
    pool = WorkerPool(1)
    try:
        before = await pool.run(30, pid_after, 0)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await pool.run(0.5, pid_after, 60)
        assert time.monotonic() - started < 5
        assert await pool.run(30, pid_after, 0) != before  # a new worker
    finally:
        pool.shutdown()
