"""Jobs (Informer's Job API): ordered actions, a cron schedule, and who may see or change them.

A job is shared as assistants are: private to its owner, or with a team or everyone, with
`permission` `use` (see it, run it, read its runs) or `edit`. Runs always work as the job's owner
(their files, their assistants, their budget). A draft (`knowledge.job_drafts`) is seen only by
those who may edit the job. Runs and leases are in `knowledge.job_runs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.listing import Page, PageRequest, paginate
from knowledge.errors import InvalidJob, JobNotFound, JobReadOnly
from knowledge.index import TenantScope
from knowledge.job_actions import ActionKind, check_actions
from knowledge.models import Job
from knowledge.schemas import JobAction, JobCreate, JobUpdate

Access = Literal["edit", "use"]
MAX_FIRE_TIMES = 100


def _zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidJob(f"Unknown time zone {time_zone!r}.", timeZone=time_zone) from None


def fire_times(
    schedule: str,
    time_zone: str,
    after: datetime,
    *,
    count: int = 1,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
) -> list[datetime]:
    """The next `count` times (UTC) after `after` the cron schedule fires in its time zone, not
    before `start_at` and not after `end_at` (fewer when the end comes first).

    Raises:
        InvalidJob: the schedule or the time zone is not valid.
    """
    zone = _zone(time_zone)
    if not croniter.is_valid(schedule):
        raise InvalidJob(f"Not a cron expression: {schedule!r}.", schedule=schedule)
    begin = clock.as_utc(after)
    if start_at is not None and clock.as_utc(start_at) > begin:
        begin = clock.as_utc(start_at) - timedelta(microseconds=1)
    times = croniter(schedule, begin.astimezone(zone))
    found: list[datetime] = []
    while len(found) < min(count, MAX_FIRE_TIMES):
        fired = clock.as_utc(times.get_next(datetime))
        if end_at is not None and fired > clock.as_utc(end_at):
            break
        found.append(fired)
    return found


def next_run(schedule: str, time_zone: str, after: datetime) -> datetime:
    """The first time after `after` (UTC) the cron schedule fires in its time zone.

    Raises:
        InvalidJob: the schedule or the time zone is not valid.
    """
    return fire_times(schedule, time_zone, after)[0]


def schedule(job: Job) -> None:
    """Set when the job runs next: never for a draft, a disabled or unscheduled job, or past its
    end date.

    Raises:
        InvalidJob: the schedule or the time zone is not valid.
    """
    _zone(job.time_zone)
    if job.start_at and job.end_at and clock.as_utc(job.end_at) < clock.as_utc(job.start_at):
        raise InvalidJob("`endAt` comes before `startAt`.")
    if not job.schedule or not job.enabled or job.editing_id is not None:
        job.next_run_at = None
        return
    times = fire_times(
        job.schedule, job.time_zone, clock.now(), start_at=job.start_at, end_at=job.end_at
    )
    job.next_run_at = times[0] if times else None


def access_of(job: Job, scope: TenantScope) -> Access | None:
    """What a viewer may do with a published job: edit, use (see and run), or nothing."""
    if job.owner_user_id == scope.user_id:
        return "edit"
    shared = job.visibility == "instance" or (
        job.visibility == "team" and job.team_id in scope.team_ids
    )
    if not shared:
        return None
    return "edit" if job.permission == "edit" else "use"


async def access_to(session: AsyncSession, job: Job, scope: TenantScope) -> Access | None:
    """The viewer's access to a job or a draft (a draft is editors-only)."""
    if job.editing_id is None:
        return access_of(job, scope)
    published = await session.get(Job, job.editing_id)
    if published is None or access_of(published, scope) != "edit":
        return None
    return "edit"


def _check_sharing(scope: TenantScope, visibility: str, team_id: str | None) -> None:
    if visibility == "team" and (team_id is None or team_id not in scope.team_ids):
        raise InvalidJob("Share with `team` needs `teamId`, a team of yours.", teamId=team_id)
    if visibility != "team" and team_id is not None:
        raise InvalidJob("`teamId` goes only with `visibility: team`.", teamId=team_id)


async def create_job(
    session: AsyncSession,
    *,
    scope: TenantScope,
    is_admin: bool,
    data: JobCreate,
    kinds: Mapping[str, ActionKind],
) -> Job:
    """A new job of the caller's.

    Raises:
        InvalidJob: bad actions, schedule, time zone, dates or sharing.
        PermissionDenied: an admins-only action made by someone who is not an admin.
    """
    _check_sharing(scope, data.visibility, data.team_id)
    job = Job(
        name=data.name,
        actions=check_actions(kinds, data.steps(), is_admin=is_admin),
        schedule=data.schedule or None,
        time_zone=data.time_zone,
        start_at=data.start_at,
        end_at=data.end_at,
        enabled=data.enabled,
        owner_user_id=scope.user_id,
        visibility=data.visibility,
        team_id=data.team_id,
        permission=data.permission,
    )
    schedule(job)
    session.add(job)
    await session.flush()
    return job


async def get_job(
    session: AsyncSession, *, scope: TenantScope, job_id: str, edit: bool = False
) -> Job:
    """A job (or draft) the viewer may see, or, with `edit`, change.

    Raises:
        JobNotFound: no such job, or not shared with the viewer.
        JobReadOnly: `edit` asked and the viewer may only see and run it.
    """
    job = await session.get(Job, job_id)
    access = None if job is None else await access_to(session, job, scope)
    if job is None or access is None:
        raise JobNotFound(job_id=job_id)
    if edit and access != "edit":
        raise JobReadOnly(job_id=job_id)
    return job


def visible(scope: TenantScope) -> ColumnElement[bool]:
    """A filter for the published jobs a viewer may see: theirs and those shared with them."""
    shared_with_team = and_(Job.visibility == "team", Job.team_id.in_(scope.team_ids or ("",)))
    return and_(
        Job.editing_id.is_(None),
        or_(Job.owner_user_id == scope.user_id, Job.visibility == "instance", shared_with_team),
    )


async def list_jobs(session: AsyncSession, *, scope: TenantScope, page: PageRequest) -> Page[Job]:
    """Published jobs the viewer may see (theirs and those shared with them); `q` searches
    names."""
    return await paginate(
        session,
        select(Job).where(visible(scope)),
        page,
        sortable={"createdAt": Job.created_at, "name": Job.name, "nextRunAt": Job.next_run_at},
        searchable=(Job.name,),
    )


async def update_job(
    session: AsyncSession,
    *,
    job: Job,
    data: JobUpdate,
    scope: TenantScope,
    is_admin: bool,
    kinds: Mapping[str, ActionKind],
) -> Job:
    """Change a job or a draft; the next run time follows the new schedule. Only the owner
    changes how it is shared.

    Raises:
        InvalidJob: bad actions, schedule, time zone, dates or sharing.
        PermissionDenied: an admins-only action saved by someone who is not an admin.
        JobReadOnly: someone else than the owner changes the sharing.
    """
    fields = data.model_fields_set
    if data.name is not None:
        job.name = data.name
    actions = _new_actions(job, data)
    if actions is not None:
        job.actions = check_actions(kinds, actions, is_admin=is_admin)
    if data.schedule is not None:
        job.schedule = data.schedule or None
    if data.time_zone is not None:
        job.time_zone = data.time_zone
    if "start_at" in fields:
        job.start_at = data.start_at
    if "end_at" in fields:
        job.end_at = data.end_at
    if data.enabled is not None:
        job.enabled = data.enabled
    if fields & {"visibility", "team_id", "permission"}:
        _share(job, data, scope)
    schedule(job)
    await session.flush()
    return job


def _new_actions(job: Job, data: JobUpdate) -> list[JobAction] | None:
    """The actions an update sets: `actions`, or new `params` for a one-action job."""
    if data.actions is not None or data.params is None:
        return data.actions
    if len(job.actions) != 1:
        raise InvalidJob("`params` changes a one-action job; send `actions` instead.")
    return [JobAction.model_validate({**job.actions[0], "params": data.params})]


def _share(job: Job, data: JobUpdate, scope: TenantScope) -> None:
    """Change how a published job is shared (its owner only)."""
    if job.editing_id is not None:
        raise InvalidJob("Change how a job is shared on the job, not on its draft.")
    if job.owner_user_id != scope.user_id:
        raise JobReadOnly("Only the job's owner changes how it is shared.", job_id=job.id)
    job.visibility = data.visibility or job.visibility
    job.team_id = data.team_id if "team_id" in data.model_fields_set else job.team_id
    job.permission = data.permission or job.permission
    _check_sharing(scope, job.visibility, job.team_id)


async def delete_job(session: AsyncSession, *, job: Job) -> None:
    """Remove a job with its draft and run history (for a draft: discard just it)."""
    await session.delete(job)
    await session.flush()


def is_running(job: Job) -> bool:
    """Whether a lease on the job is held now."""
    return job.lease_until is not None and clock.as_utc(job.lease_until) > clock.now()
