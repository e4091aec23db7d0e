"""Runs of jobs: the lease that lets a job run in one place at a time, and the run history.

A run starts only by one conditional update that takes the job's lease (free or run out), so a
job never runs twice at once, and with several processes exactly one of them runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock, webhook_subscriptions, webhooks
from core.database import write_transaction
from core.listing import Page, PageRequest, paginate
from knowledge import jobs
from knowledge.errors import InvalidJob, JobAlreadyRunning, JobNotFound
from knowledge.models import Job, JobRun

LEASE = timedelta(seconds=120)


@dataclass(frozen=True)
class Failure:
    """Why a step or run failed: the error's code (`SwitchboardError.code`) and its message."""

    code: str
    message: str


async def claim(
    factory: async_sessionmaker[AsyncSession],
    *,
    job_id: str,
    holder: str,
    trigger: str,
    steps: list[dict[str, Any]] | None = None,
) -> JobRun:
    """Take the job's lease and record a run with its steps to come, in one transaction.

    Raises:
        JobAlreadyRunning: another run holds the lease.
    """
    now = clock.now()
    async with write_transaction(factory) as session:
        result = await session.execute(
            update(Job)
            .where(Job.id == job_id, or_(Job.lease_until.is_(None), Job.lease_until < now))
            .values(lease_owner=holder, lease_until=now + LEASE, last_run_at=now)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise JobAlreadyRunning(job_id=job_id)
        run = JobRun(
            job_id=job_id, trigger=trigger, status="running", started_at=now, steps=steps or []
        )
        session.add(run)
    return run


async def renew(factory: async_sessionmaker[AsyncSession], *, job_id: str, holder: str) -> None:
    """Extend a held lease (a running job does this as it goes)."""
    async with write_transaction(factory) as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == holder)
            .values(lease_until=clock.now() + LEASE)
        )


async def save_steps(
    factory: async_sessionmaker[AsyncSession], *, run_id: str, steps: list[dict[str, Any]]
) -> None:
    """Save how far a run's steps have come."""
    async with write_transaction(factory) as session:
        await session.execute(
            update(JobRun).where(JobRun.id == run_id).values(steps=[dict(s) for s in steps])
        )


async def release(
    factory: async_sessionmaker[AsyncSession],
    *,
    run: JobRun,
    holder: str,
    status: str,
    counts: dict[str, Any],
    error: Failure | None,
    steps: list[dict[str, Any]] | None = None,
    webhook_url: str = "",
) -> None:
    """Record how a run ended, give the lease back, and schedule the next run; queue the result
    (`job_run`) for subscribed webhooks and, with a `webhook_url`, that URL, in the same
    transaction."""
    async with write_transaction(factory) as session:
        saved = await session.get(JobRun, run.id)
        if saved is not None:
            saved.status, saved.counts = status, counts
            saved.error_code = error.code if error else None
            saved.error = error.message if error else None
            saved.finished_at = clock.now()
            if steps is not None:
                saved.steps = [dict(s) for s in steps]
        job = await session.get(Job, run.job_id)
        if saved is not None:
            body = _result_body(saved, job)
            await webhook_subscriptions.emit(session, event="job_run", body=body)
        if webhook_url and saved is not None:
            webhooks.queue(session, event="job_run", url=webhook_url, body=body, delivery_id=run.id)
        if job is not None and job.lease_owner == holder:
            job.lease_owner = job.lease_until = None
            try:
                jobs.schedule(job)
            except InvalidJob:
                job.next_run_at = None


def _result_body(run: JobRun, job: Job | None) -> dict[str, Any]:
    finished = run.finished_at or clock.now()
    return {
        "type": "job_run",
        "id": run.id,
        "jobId": run.job_id,
        "jobName": job.name if job is not None else None,
        "jobType": job.actions[0]["type"] if job is not None and job.actions else None,
        "trigger": run.trigger,
        "status": run.status,
        "counts": run.counts,
        "errorCode": run.error_code,
        "error": run.error,
        "steps": [
            {
                key: step.get(key)
                for key in ("index", "type", "status", "durationMs", "errorCode", "error")
            }
            for step in run.steps or []
        ],
        "startedAt": clock.as_utc(run.started_at).isoformat(),
        "finishedAt": clock.as_utc(finished).isoformat(),
    }


async def due(session: AsyncSession, *, now: datetime) -> Sequence[str]:
    """Ids of enabled scheduled jobs (not drafts) whose time has come and that no one runs."""
    rows = await session.scalars(
        select(Job.id).where(
            Job.enabled.is_(True),
            Job.editing_id.is_(None),
            Job.next_run_at <= now,
            or_(Job.lease_until.is_(None), Job.lease_until < now),
        )
    )
    return list(rows)


async def runs_page(session: AsyncSession, *, job: Job, page: PageRequest) -> Page[JobRun]:
    """A job's runs, newest first."""
    return await paginate(
        session,
        select(JobRun).where(JobRun.job_id == job.id),
        page,
        sortable={"createdAt": JobRun.created_at, "startedAt": JobRun.started_at},
        default_sort="-startedAt",
    )


async def get_run(session: AsyncSession, *, job: Job, run_id: str) -> JobRun:
    """One run of the job.

    Raises:
        JobNotFound: the job has no such run.
    """
    run = await session.get(JobRun, run_id)
    if run is None or run.job_id != job.id:
        raise JobNotFound("The job has no such run.", run_id=run_id)
    return run
