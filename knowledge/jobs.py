"""Jobs (Informer's Job API): what to run, on which cron schedule, and who holds the run lease.

A run starts only by one conditional update that takes the job's lease (free or run out), so a
job never runs twice at once, and with several processes exactly one of them runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock, webhook_subscriptions, webhooks
from core.database import write_transaction
from core.errors import PermissionDenied
from core.listing import Page, PageRequest, paginate
from knowledge.errors import InvalidJob, JobAlreadyRunning, JobNotFound
from knowledge.models import Job, JobRun
from knowledge.schemas import JobCreate, JobUpdate

LEASE = timedelta(seconds=120)


def next_run(schedule: str, time_zone: str, after: datetime) -> datetime:
    """The first time after `after` (UTC) the cron schedule fires in its time zone.

    Raises:
        InvalidJob: the schedule or the time zone is not valid.
    """
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidJob(f"Unknown time zone {time_zone!r}.", timeZone=time_zone) from None
    if not croniter.is_valid(schedule):
        raise InvalidJob(f"Not a cron expression: {schedule!r}.", schedule=schedule)
    fired: datetime = croniter(schedule, clock.as_utc(after).astimezone(zone)).get_next(datetime)
    return clock.as_utc(fired)


def check_params(job_type: str, params: dict[str, Any], *, is_admin: bool) -> dict[str, Any]:
    """The parameters a job type needs, checked.

    Raises:
        InvalidJob: a parameter is missing or of the wrong kind.
        PermissionDenied: a library-sync job made by someone who is not an admin.
    """
    if job_type == "index-files":
        file_ids = params.get("fileIds", [])
        folder_id = params.get("folderId")
        if not isinstance(file_ids, list) or not all(isinstance(i, str) for i in file_ids):
            raise InvalidJob("`fileIds` must be a list of file ids.")
        if folder_id is not None and not isinstance(folder_id, str):
            raise InvalidJob("`folderId` must be a folder id.")
        if not file_ids and not folder_id:
            raise InvalidJob("An index-files job needs `fileIds` or `folderId`.")
        return {"fileIds": file_ids[:1000], "folderId": folder_id}
    if not is_admin:
        raise PermissionDenied("Only admins can mirror server folders into the library.")
    path, folder_id = params.get("path"), params.get("folderId")
    if not isinstance(path, str) or not path or len(path) > 1000:
        raise InvalidJob("A library-sync job needs `path`, a folder under the sync root.")
    if not isinstance(folder_id, str) or not folder_id:
        raise InvalidJob("A library-sync job needs `folderId`, the library folder to fill.")
    return {"path": path, "folderId": folder_id}


def _schedule(job: Job) -> None:
    job.next_run_at = (
        next_run(job.schedule, job.time_zone, clock.now()) if job.schedule and job.enabled else None
    )


async def create_job(
    session: AsyncSession, *, owner_id: str, is_admin: bool, data: JobCreate
) -> Job:
    """A new job of the caller's.

    Raises:
        InvalidJob: bad parameters, schedule or time zone.
        PermissionDenied: a library-sync job made by someone who is not an admin.
    """
    job = Job(
        name=data.name,
        job_type=data.type,
        params=check_params(data.type, data.params, is_admin=is_admin),
        schedule=data.schedule or None,
        time_zone=data.time_zone,
        enabled=data.enabled,
        owner_user_id=owner_id,
    )
    _schedule(job)
    session.add(job)
    await session.flush()
    return job


async def get_job(session: AsyncSession, *, owner_id: str, job_id: str) -> Job:
    """A job of the caller's.

    Raises:
        JobNotFound: no such job, or someone else's.
    """
    job = await session.get(Job, job_id)
    if job is None or job.owner_user_id != owner_id:
        raise JobNotFound(job_id=job_id)
    return job


async def list_jobs(session: AsyncSession, *, owner_id: str, page: PageRequest) -> Page[Job]:
    """The caller's jobs; `q` searches names."""
    return await paginate(
        session,
        select(Job).where(Job.owner_user_id == owner_id),
        page,
        sortable={"createdAt": Job.created_at, "name": Job.name, "nextRunAt": Job.next_run_at},
        searchable=(Job.name,),
    )


async def update_job(session: AsyncSession, *, job: Job, data: JobUpdate, is_admin: bool) -> Job:
    """Change a job; the next run time follows the new schedule.

    Raises:
        InvalidJob: bad parameters, schedule or time zone.
    """
    if data.name is not None:
        job.name = data.name
    if data.params is not None:
        job.params = check_params(job.job_type, data.params, is_admin=is_admin)
    if data.schedule is not None:
        job.schedule = data.schedule or None
    if data.time_zone is not None:
        job.time_zone = data.time_zone
    if data.enabled is not None:
        job.enabled = data.enabled
    _schedule(job)
    await session.flush()
    return job


async def delete_job(session: AsyncSession, *, job: Job) -> None:
    """Remove a job and its run history."""
    await session.delete(job)
    await session.flush()


def is_running(job: Job) -> bool:
    """Whether a lease on the job is held now."""
    return job.lease_until is not None and clock.as_utc(job.lease_until) > clock.now()


async def claim(
    factory: async_sessionmaker[AsyncSession], *, job_id: str, holder: str, trigger: str
) -> JobRun:
    """Take the job's lease and record a run, in one transaction.

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
        run = JobRun(job_id=job_id, trigger=trigger, status="running", started_at=now)
        session.add(run)
    return run


async def renew(factory: async_sessionmaker[AsyncSession], *, job_id: str, holder: str) -> None:
    """Extend a held lease (long runs call this as they go)."""
    async with write_transaction(factory) as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == holder)
            .values(lease_until=clock.now() + LEASE)
        )


async def release(
    factory: async_sessionmaker[AsyncSession],
    *,
    run: JobRun,
    holder: str,
    status: str,
    counts: dict[str, Any],
    error: str | None,
    webhook_url: str = "",
) -> None:
    """Record how a run ended, give the lease back, and schedule the next run; queue the result
    (`job_run`) for subscribed webhooks and, with a `webhook_url`, that URL, in the same
    transaction."""
    async with write_transaction(factory) as session:
        saved = await session.get(JobRun, run.id)
        if saved is not None:
            saved.status, saved.counts, saved.error = status, counts, error
            saved.finished_at = clock.now()
        job = await session.get(Job, run.job_id)
        if saved is not None:
            body = _result_body(saved, job)
            await webhook_subscriptions.emit(session, event="job_run", body=body)
        if webhook_url and saved is not None:
            webhooks.queue(session, event="job_run", url=webhook_url, body=body, delivery_id=run.id)
        if job is not None and job.lease_owner == holder:
            job.lease_owner = job.lease_until = None
            try:
                _schedule(job)
            except InvalidJob:
                job.next_run_at = None


def _result_body(run: JobRun, job: Job | None) -> dict[str, Any]:
    finished = run.finished_at or clock.now()
    return {
        "type": "job_run",
        "id": run.id,
        "jobId": run.job_id,
        "jobName": job.name if job is not None else None,
        "jobType": job.job_type if job is not None else None,
        "trigger": run.trigger,
        "status": run.status,
        "counts": run.counts,
        "error": run.error,
        "startedAt": clock.as_utc(run.started_at).isoformat(),
        "finishedAt": clock.as_utc(finished).isoformat(),
    }


async def due(session: AsyncSession, *, now: datetime) -> Sequence[str]:
    """Ids of enabled scheduled jobs whose time has come and that no one is running."""
    rows = await session.scalars(
        select(Job.id).where(
            Job.enabled.is_(True),
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
