"""Jobs (Informer's Job API): ordered actions now or on a cron schedule, drafts, sharing, runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Response
from fastapi.responses import JSONResponse

from api.deps import PageDep, PrincipalDep, ServicesDep, SessionDep
from api.hal import (
    Collection,
    Resource,
    api_router,
    collection,
    collection_of,
    resource,
    resource_of,
    wire_of,
)
from api.job_actions import check_targets
from api.routes.library import scope_of
from core import clock
from knowledge import job_drafts, job_runs, jobs
from knowledge.models import Job, JobRun
from knowledge.schemas import FireTimesRead, JobCreate, JobRead, JobRunRead, JobUpdate

router = api_router(prefix="/api/jobs", tags=["Jobs"])


def job_body(job: Job, access: str) -> Resource[JobRead]:
    """A job (or draft) as a HAL resource, with the caller's access."""
    fields = {f: getattr(job, f) for f in JobRead.model_fields if hasattr(job, f)}
    read = JobRead.model_validate(
        {
            **fields,
            "type": job.actions[0]["type"] if job.actions else "",
            "running": jobs.is_running(job),
            "access": access,
        }
    )
    href = f"/api/jobs/{job.id}"
    links = {"runs": href + "/runs", "run": href + "/_run", "fireTimes": href + "/fire-times"}
    if job.editing_id:
        links.update(published=f"/api/jobs/{job.editing_id}", commit=href + "/_commit")
    elif access == "edit":
        links["edit"] = href + "/_edit"
    return resource(read, href, **links)


def run_body(run: JobRun) -> Resource[JobRunRead]:
    """A run as a HAL resource."""
    read = JobRunRead.model_validate(run)
    if run.finished_at is not None:
        elapsed = run.finished_at - run.started_at
        read = read.model_copy(update={"duration_ms": round(elapsed.total_seconds() * 1000)})
    return resource(read, f"/api/jobs/{run.job_id}/runs/{run.id}", job=f"/api/jobs/{run.job_id}")


async def visible_job(job_id: str, principal: PrincipalDep, session: SessionDep) -> Job:
    """The job (or draft) named by `job_id`, if the caller may see it (else 404
    `job_not_found`)."""
    return await jobs.get_job(session, scope=scope_of(principal), job_id=job_id)


async def editable_job(job_id: str, principal: PrincipalDep, session: SessionDep) -> Job:
    """The job (or draft) named by `job_id`, if the caller may edit it (404, or 403
    `job_read_only` when it is shared with them to see and run)."""
    return await jobs.get_job(session, scope=scope_of(principal), job_id=job_id, edit=True)


JobDep = Annotated[Job, Depends(visible_job)]
EditableJobDep = Annotated[Job, Depends(editable_job)]


async def _access(session: SessionDep, principal: PrincipalDep, job: Job) -> str:
    return await jobs.access_to(session, job, scope_of(principal)) or "use"


@router.get("", response_model=collection_of("jobs", JobRead))
async def list_jobs(
    principal: PrincipalDep, session: SessionDep, page: PageDep
) -> Collection[Resource[JobRead]]:
    """Jobs you may see: yours and those shared with your teams or everyone; `q` searches
    names. Drafts are reached from their job."""
    scope = scope_of(principal)
    result = await jobs.list_jobs(session, scope=scope, page=page)

    def render(job: Job) -> Resource[JobRead]:
        return job_body(job, jobs.access_of(job, scope) or "use")

    return collection("jobs", "/api/jobs", result, render, {"q": page.q, "sort": page.sort})


@router.post("", status_code=201, response_model=resource_of(JobRead))
async def create_job(
    body: JobCreate, principal: PrincipalDep, session: SessionDep, services: ServicesDep
) -> Resource[JobRead]:
    """Add a job: ordered `actions` (`index-files`, `library-sync` (admins), `api-call`, `email`,
    `assistant-prompt`), each run when its `condition` holds for the step before it; or one
    `type` with `params`. With `schedule` (cron, in `timeZone`, between `startAt` and `endAt`) it
    also runs on its own. Shared as assistants are (`visibility`, `teamId`, `permission`)."""
    user = principal.user
    job = await jobs.create_job(
        session,
        scope=scope_of(principal),
        is_admin=user.is_admin,
        data=body,
        kinds=services.knowledge.scheduler.kinds,
    )
    await check_targets(session, principal, job)
    return job_body(job, "edit")


@router.get("/{job_id}", response_model=resource_of(JobRead))
async def get_job(job: JobDep, principal: PrincipalDep, session: SessionDep) -> Resource[JobRead]:
    """One job (or a draft of one you may edit), with `nextRunAt` and whether it is `running`."""
    return job_body(job, await _access(session, principal, job))


@router.patch("/{job_id}", response_model=resource_of(JobRead))
async def update_job(
    job: EditableJobDep,
    body: JobUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    services: ServicesDep,
) -> Resource[JobRead]:
    """Change a job or a draft (needs edit permission): name, actions, schedule, time zone,
    dates, whether it is enabled; its owner also changes how it is shared."""
    job = await jobs.update_job(
        session,
        job=job,
        data=body,
        scope=scope_of(principal),
        is_admin=principal.user.is_admin,
        kinds=services.knowledge.scheduler.kinds,
    )
    await check_targets(session, principal, job)
    return job_body(job, "edit")


@router.delete("/{job_id}", status_code=204)
async def delete_job(job: EditableJobDep, session: SessionDep) -> Response:
    """Delete a job with its draft and run history; for a draft, discard just it."""
    await jobs.delete_job(session, job=job)
    return Response(status_code=204)


@router.post(
    "/{job_id}/_edit",
    status_code=201,
    response_model=resource_of(JobRead),
    responses={200: {"description": "The draft already open.", "model": resource_of(JobRead)}},
)
async def open_job_draft(job: EditableJobDep, session: SessionDep) -> JSONResponse:
    """Open the draft of a job (201), or return the one already open (200). A draft never runs
    on its schedule; `_run` tries it."""
    draft, made = await job_drafts.open_draft(session, job=job)
    return JSONResponse(job_body(draft, "edit"), status_code=201 if made else 200)


@router.post("/{job_id}/_commit", response_model=resource_of(JobRead))
async def commit_job_draft(job: EditableJobDep, session: SessionDep) -> Resource[JobRead]:
    """Publish a draft onto its job in one step (the id may also be the published one's)."""
    if job.editing_id is None:
        job = await job_drafts.draft_of(session, published=job)
    return job_body(await job_drafts.commit(session, draft=job), "edit")


@router.get("/{job_id}/fire-times", response_model=wire_of(FireTimesRead))
async def fire_times(
    job: JobDep, count: Annotated[int, Query(ge=1, le=jobs.MAX_FIRE_TIMES)] = 10
) -> FireTimesRead:
    """The next `count` (1-100) times the job's schedule fires, in UTC, computed in its time zone
    and within its `startAt`/`endAt` (fewer when the end comes first; none unscheduled)."""
    times = []
    if job.schedule:
        times = jobs.fire_times(
            job.schedule,
            job.time_zone,
            clock.now(),
            count=count,
            start_at=job.start_at,
            end_at=job.end_at,
        )
    return FireTimesRead(
        job_id=job.id, schedule=job.schedule, time_zone=job.time_zone, fire_times=times
    )


@router.post("/{job_id}/_run", status_code=202, response_model=resource_of(JobRunRead))
async def run_job(job: JobDep, session: SessionDep, services: ServicesDep) -> Resource[JobRunRead]:
    """Run the job (or try a draft) now, in the background, as its owner; returns the run (409
    `job_already_running` while a run is going on, here or in another worker)."""
    await session.commit()
    return run_body(await services.knowledge.scheduler.run_now(job))


@router.get("/{job_id}/runs", response_model=collection_of("runs", JobRunRead))
async def list_runs(
    job: JobDep, session: SessionDep, page: PageDep
) -> Collection[Resource[JobRunRead]]:
    """The job's runs, newest first, with status, timings, counts, errors and steps."""
    result = await job_runs.runs_page(session, job=job, page=page)
    return collection("runs", f"/api/jobs/{job.id}/runs", result, run_body)


@router.get("/{job_id}/runs/{run_id}", response_model=resource_of(JobRunRead))
async def get_run(job: JobDep, run_id: str, session: SessionDep) -> Resource[JobRunRead]:
    """One run: each step's status, condition, duration, progress (0-1), log lines and result
    or error, saved as the run goes."""
    return run_body(await job_runs.get_run(session, job=job, run_id=run_id))
