"""A bounded pool of worker processes for CPU-bound work that must never hold the event loop.

Pure-Python work (Markdown rendering, parsing) holds the GIL, so a thread does not keep the loop
responsive while it runs: it goes to a spawned process instead. The pool starts lazily, has a
fixed number of workers (extra tasks queue), and a task past its deadline has its workers killed
and the pool replaced, so one hostile input costs at most its deadline of one worker's time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

Result = TypeVar("Result")
# The worker stops itself at the limit where it can; the parent kills it a little later.
KILL_GRACE_SECONDS = 2.0
# Workers run below the server's priority: on a busy machine the event loop gets the CPU first.
WORKER_NICENESS = 10


class WorkerPool:
    """A lazily started process pool, replaced when one of its workers has to be killed."""

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        tasks_per_worker: int | None = None,
    ) -> None:
        self._workers = workers
        self._tasks_per_worker = tasks_per_worker
        self._initializer = initializer
        self._initargs = initargs
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None

    def configure(self, workers: int, initargs: tuple[Any, ...]) -> None:
        """Use these settings from now on (a running pool with others is replaced)."""
        with self._lock:
            if (workers, initargs) != (self._workers, self._initargs):
                self._workers, self._initargs = workers, initargs
                self._discard_locked()

    async def run(self, timeout: float, function: Callable[..., Result], *args: Any) -> Result:
        """`function(*args)` in a worker, awaited without blocking the loop.

        A pool broken by another task's crash is replaced and the task tried once more.

        Raises:
            TimeoutError: the task did not finish within `timeout` (a task still queued is
                dropped; a running one has the pool's workers killed).
            BrokenProcessPool: the worker died while running the task.
        """
        for attempt in range(2):
            executor = self._get()
            try:
                # Submitting may start the workers (a fork of this whole process): not on the loop.
                future = await asyncio.to_thread(executor.submit, function, *args)
            except BrokenProcessPool:
                self._discard(executor)
                continue
            try:
                return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
            except TimeoutError:
                if not future.cancel():  # it was running: only killing its worker stops it
                    self._discard(executor)
                raise
            except BrokenProcessPool:
                self._discard(executor)
                if attempt == 1:
                    raise
        raise BrokenProcessPool("the worker pool could not be started")

    def shutdown(self) -> None:
        """Stop the workers (they start again on the next task)."""
        with self._lock:
            self._discard_locked()

    def _get(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ProcessPoolExecutor(
                    max_workers=self._workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(self._initializer, self._initargs),
                    max_tasks_per_child=self._tasks_per_worker,
                )
            return self._executor

    def _discard(self, executor: concurrent.futures.ProcessPoolExecutor) -> None:
        """Kill the workers of `executor` if it is still the current pool."""
        with self._lock:
            if self._executor is executor:
                self._discard_locked()

    def _discard_locked(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # The pool offers no way to stop a running task: terminate its processes.
        for process in list(executor._processes.values()):
            process.kill()
        executor.shutdown(wait=False, cancel_futures=True)


def _start_worker(initializer: Callable[..., object] | None, initargs: tuple[Any, ...]) -> None:
    """A worker's start: lower its priority, then run the pool's own initializer."""
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    if initializer is not None:
        initializer(*initargs)
