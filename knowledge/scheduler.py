"""Running jobs: on request or when their cron time comes, each run holding the job's lease.

A run goes through the job's actions in order. A step runs when its condition holds for the last
step that ran (`knowledge.job_actions.applies`), else it is skipped; its record (status, timings,
progress, log, result or error) is saved as it goes, so `GET /api/jobs/{id}/runs/{runId}` shows
a long step moving. The lease is renewed in the background while the run lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock
from core.errors import SwitchboardError
from knowledge import job_actions, job_runs
from knowledge.errors import InvalidJob
from knowledge.job_actions import ActionKind, Step
from knowledge.job_kinds import builtin_kinds
from knowledge.mail import MailConfig
from knowledge.models import Job, JobRun
from knowledge.storage import FileStorage
from knowledge.vector_store import VectorStore
from knowledge.worker import IndexingWorker

log = logging.getLogger(__name__)
SAVE_EVERY_SECONDS = 1.0
STOPPED = "job_run_stopped"  # the codes of failures that are no domain error
UNEXPECTED = "internal_error"


@dataclass(frozen=True, kw_only=True)
class SchedulerConfig:
    """Where library-sync may read, how large a synced file may be, how often to look."""

    sync_root: Path
    max_file_bytes: int
    poll_seconds: float = 15.0
    webhook_url: str = ""  # where each run's result is posted, if anywhere
    mail: MailConfig = field(default_factory=MailConfig)


class JobScheduler:
    """Starts due jobs and requested runs in this process, one run per job at a time."""

    def __init__(
        self,
        *,
        factory: async_sessionmaker[AsyncSession],
        store: VectorStore,
        storage: FileStorage,
        worker: IndexingWorker,
        config: SchedulerConfig,
    ) -> None:
        self.factory = factory
        self.config = config
        self.holder = worker.id
        # The app adds the kinds that need packages above knowledge (api-call, assistant-prompt).
        self.kinds: dict[str, ActionKind] = builtin_kinds(
            factory,
            store=store,
            storage=storage,
            worker=worker,
            sync_root=config.sync_root,
            max_file_bytes=config.max_file_bytes,
            mail_config=config.mail,
        )
        self._runs: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Look for due jobs every `poll_seconds`."""
        self._loop_task = asyncio.create_task(self._loop(), name="job scheduler")

    async def stop(self) -> None:
        """Stop looking and cancel running jobs (each records its run as failed)."""
        tasks = [t for t in (self._loop_task, *self._runs) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    async def run_now(self, job: Job, *, trigger: str = "manual") -> JobRun:
        """Start a run of the job in the background; returns the run.

        Raises:
            JobAlreadyRunning: the job is running (here or in another process).
        """
        steps = [job_actions.new_record(i, a) for i, a in enumerate(job.actions)]
        run = await job_runs.claim(
            self.factory, job_id=job.id, holder=self.holder, trigger=trigger, steps=steps
        )
        task = asyncio.create_task(self._execute(job, run), name=f"job {job.id}")
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return run

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_seconds)
            try:
                async with self.factory() as session:
                    due = await job_runs.due(session, now=clock.now())
                    found = [await session.get(Job, job_id) for job_id in due]
                for job in found:
                    if job is not None:
                        with contextlib.suppress(SwitchboardError):
                            await self.run_now(job, trigger="schedule")
            except Exception:
                log.exception("job scheduler: looking for due jobs failed")

    async def _execute(self, job: Job, run: JobRun) -> None:
        steps = copy.deepcopy(run.steps)
        failure: job_runs.Failure | None = None
        heartbeat = asyncio.create_task(self._keep_lease(job.id))
        try:
            failure = await self._steps(job, run, steps)
        except asyncio.CancelledError:
            failure = job_runs.Failure(STOPPED, "The run was stopped by a shutdown.")
        except Exception as exc:
            log.exception("job %s failed", job.id)
            failure = job_runs.Failure(UNEXPECTED, f"Unexpected failure: {exc}")
        finally:
            heartbeat.cancel()
            counts: dict[str, Any] = {}
            for record in steps:
                counts.update(record["result"])
            ending = job_runs.release(
                self.factory,
                run=run,
                holder=self.holder,
                status="done" if failure is None else "failed",
                counts=counts,
                error=failure,
                steps=steps,
                webhook_url=self.config.webhook_url,
            )
            await asyncio.shield(ending)

    async def _steps(
        self, job: Job, run: JobRun, steps: list[dict[str, Any]]
    ) -> job_runs.Failure | None:
        """Run the steps in order; the first failure, or None when none failed."""
        saved_at = 0.0

        async def save(force: bool = False) -> None:
            nonlocal saved_at
            if force or clock.now().timestamp() - saved_at >= SAVE_EVERY_SECONDS:
                saved_at = clock.now().timestamp()
                await job_runs.save_steps(self.factory, run_id=run.id, steps=steps)

        previous_ok, first_error = True, None
        for record, action in zip(steps, job.actions, strict=True):
            if not job_actions.applies(record["condition"], previous_ok):
                record["status"] = "skipped"
                continue
            failed = await self._step(job, action, Step(record, save))
            await save(force=True)
            previous_ok = failed is None
            if failed is not None and first_error is None:
                where = f"Step {record['index'] + 1} ({record['type']})"
                first_error = job_runs.Failure(failed.code, f"{where}: {failed.message}")
        return first_error

    async def _step(self, job: Job, action: dict[str, Any], step: Step) -> job_runs.Failure | None:
        """Run one step and record how it went; its failure, or None."""
        record = step.record
        started = clock.now()
        record.update(status="running", startedAt=started.isoformat())
        await step.progress(0.0)
        kind = self.kinds.get(action["type"])
        failure = None
        try:
            if kind is None:
                raise InvalidJob(f"This server does not run {action['type']!r} actions.")
            record["result"] = await kind.perform(job, action["params"], step)
        except asyncio.CancelledError:
            failure = job_runs.Failure(STOPPED, "The run was stopped by a shutdown.")
            raise
        except SwitchboardError as exc:
            failure = job_runs.Failure(exc.code, exc.message)
        except Exception as exc:
            log.exception("job %s: step %s failed", job.id, record["index"])
            failure = job_runs.Failure(UNEXPECTED, f"Unexpected failure: {exc}")
        finally:
            finished = clock.now()
            record.update(
                status="failed" if failure else "done",
                finishedAt=finished.isoformat(),
                durationMs=round((finished - started).total_seconds() * 1000),
                errorCode=failure.code if failure else None,
                error=failure.message if failure else None,
            )
            if failure is None:
                record["progress"] = 1.0
            else:
                step.log(failure.message)
        return failure

    async def _keep_lease(self, job_id: str) -> None:
        while True:
            await asyncio.sleep(job_runs.LEASE.total_seconds() / 4)
            with contextlib.suppress(Exception):
                await job_runs.renew(self.factory, job_id=job_id, holder=self.holder)
