"""Running jobs: on request or when their cron time comes, each run holding the job's lease.

`index-files` queues its files for the indexing worker and waits until they are indexed or
failed; `library-sync` mirrors a server folder (see `knowledge.sync`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock, teams
from core.database import write_transaction
from core.errors import SwitchboardError
from knowledge import jobs, library, sync
from knowledge.index import TenantScope
from knowledge.models import Job, JobRun, LibraryFile
from knowledge.storage import FileStorage
from knowledge.vector_store import VectorStore
from knowledge.worker import IndexingWorker

log = logging.getLogger(__name__)
WAIT_SECONDS = 0.5
MAX_WAIT_SECONDS = 6 * 3600


@dataclass(frozen=True, kw_only=True)
class SchedulerConfig:
    """Where library-sync may read, how large a synced file may be, how often to look."""

    sync_root: Path
    max_file_bytes: int
    poll_seconds: float = 15.0
    webhook_url: str = ""  # where each run's result is posted, if anywhere


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
        self.store = store
        self.storage = storage
        self.worker = worker
        self.config = config
        self.holder = worker.id
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
        run = await jobs.claim(self.factory, job_id=job.id, holder=self.holder, trigger=trigger)
        task = asyncio.create_task(self._execute(job, run), name=f"job {job.id}")
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return run

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_seconds)
            try:
                async with self.factory() as session:
                    due = await jobs.due(session, now=clock.now())
                    found = [await session.get(Job, job_id) for job_id in due]
                for job in found:
                    if job is not None:
                        with contextlib.suppress(SwitchboardError):
                            await self.run_now(job, trigger="schedule")
            except Exception:
                log.exception("job scheduler: looking for due jobs failed")

    async def _execute(self, job: Job, run: JobRun) -> None:
        status, counts, error = "done", {}, None
        try:
            counts = await self._perform(job)
        except asyncio.CancelledError:
            status, error = "failed", "The run was stopped by a shutdown."
        except SwitchboardError as exc:
            status, error = "failed", exc.message
        except Exception as exc:
            log.exception("job %s failed", job.id)
            status, error = "failed", f"Unexpected failure: {exc}"
        finally:
            ending = jobs.release(
                self.factory,
                run=run,
                holder=self.holder,
                status=status,
                counts=counts,
                error=error,
                webhook_url=self.config.webhook_url,
            )
            await asyncio.shield(ending)

    async def _perform(self, job: Job) -> dict[str, Any]:
        if job.job_type == "library-sync":
            counts = await sync.sync_folder(
                self.factory,
                store=self.store,
                storage=self.storage,
                root=self.config.sync_root,
                path=str(job.params["path"]),
                folder_id=str(job.params["folderId"]),
                max_bytes=self.config.max_file_bytes,
                created_by=job.owner_user_id,
            )
            self.worker.wake()
            return counts
        return await self._index_files(job)

    async def _index_files(self, job: Job) -> dict[str, Any]:
        """Queue the job's files for indexing and wait until each is indexed or failed."""
        async with write_transaction(self.factory) as session:
            team_ids = await teams.team_ids_of(session, user_id=job.owner_user_id)
            scope = TenantScope(job.owner_user_id, team_ids)
            wanted = [LibraryFile.id.in_(job.params.get("fileIds") or [])]
            if job.params.get("folderId"):
                wanted.append(LibraryFile.folder_id == job.params["folderId"])
            rows = list(
                await session.scalars(
                    select(LibraryFile).where(library.visible_to(LibraryFile, scope), or_(*wanted))
                )
            )
            for row in rows:
                library.mark_pending(row)
        self.worker.wake()
        ids = [row.id for row in rows]
        deadline = clock.now().timestamp() + MAX_WAIT_SECONDS
        statuses: list[str] = []
        while clock.now().timestamp() < deadline:
            async with self.factory() as session:
                statuses = list(
                    await session.scalars(select(LibraryFile.status).where(LibraryFile.id.in_(ids)))
                )
            if not any(s in {"pending", "indexing"} for s in statuses):
                break
            await jobs.renew(self.factory, job_id=job.id, holder=self.holder)
            await asyncio.sleep(WAIT_SECONDS)
        return {
            "files": len(ids),
            "indexed": statuses.count("indexed"),
            "failed": statuses.count("failed"),
        }
