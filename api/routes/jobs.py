"""Jobs: reindex files or mirror a server folder, now or on a cron schedule (Informer's Job API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Response

from api.deps import PageDep, PrincipalDep, ServicesDep, SessionDep
from api.hal import api_router, collection, collection_of, resource, resource_of
from api.routes.library import scope_of
from knowledge import jobs, library
from knowledge.models import Job, JobRun
from knowledge.schemas import JobCreate, JobRead, JobRunRead, JobUpdate

router = api_router(prefix="/api/jobs", tags=["Jobs"])


def job_body(job: Job) -> dict[str, Any]:
    """A job as a HAL resource."""
    read = JobRead.model_validate(job).model_copy(update={"running": jobs.is_running(job)})
    href = f"/api/jobs/{job.id}"
    return resource(read, href, runs=href + "/runs", run=href + "/_run")


def run_body(run: JobRun) -> dict[str, Any]:
    """A run as a HAL resource."""
    read = JobRunRead.model_validate(run)
    if run.finished_at is not None:
        elapsed = run.finished_at - run.started_at
        read = read.model_copy(update={"duration_ms": round(elapsed.total_seconds() * 1000)})
    return resource(read, f"/api/jobs/{run.job_id}/runs/{run.id}", job=f"/api/jobs/{run.job_id}")


async def owned_job(job_id: str, principal: PrincipalDep, session: SessionDep) -> Job:
    """The job named by `job_id`, if it is the caller's (else 404 `job_not_found`)."""
    return await jobs.get_job(session, owner_id=principal.user.id, job_id=job_id)


JobDep = Annotated[Job, Depends(owned_job)]


async def _check_targets(session: SessionDep, principal: PrincipalDep, job: Job) -> None:
    folder_ids = [job.params["folderId"]] if job.params.get("folderId") else []
    await library.visible_ids(
        session,
        scope=scope_of(principal),
        file_ids=job.params.get("fileIds") or (),
        folder_ids=folder_ids,
    )


@router.get("", response_model=collection_of("jobs", JobRead))
async def list_jobs(principal: PrincipalDep, session: SessionDep, page: PageDep) -> Any:
    """Your jobs; `q` searches names."""
    result = await jobs.list_jobs(session, owner_id=principal.user.id, page=page)
    return collection("jobs", "/api/jobs", result, job_body, {"q": page.q, "sort": page.sort})


@router.post("", status_code=201, response_model=resource_of(JobRead))
async def create_job(body: JobCreate, principal: PrincipalDep, session: SessionDep) -> Any:
    """Add a job. `index-files` reindexes `params.fileIds` and/or the files of
    `params.folderId`; `library-sync` (admins) mirrors `params.path`, a folder under the server's
    sync root, into the library folder `params.folderId` by content hash. With `schedule` (cron,
    in `timeZone`) it also runs on its own."""
    user = principal.user
    job = await jobs.create_job(session, owner_id=user.id, is_admin=user.is_admin, data=body)
    await _check_targets(session, principal, job)
    return job_body(job)


@router.get("/{job_id}", response_model=resource_of(JobRead))
async def get_job(job: JobDep) -> Any:
    """One job, with `nextRunAt` and whether it is `running`."""
    return job_body(job)


@router.patch("/{job_id}", response_model=resource_of(JobRead))
async def update_job(
    job: JobDep, body: JobUpdate, principal: PrincipalDep, session: SessionDep
) -> Any:
    """Change a job's name, parameters, schedule, time zone or whether it is enabled."""
    job = await jobs.update_job(session, job=job, data=body, is_admin=principal.user.is_admin)
    await _check_targets(session, principal, job)
    return job_body(job)


@router.delete("/{job_id}", status_code=204)
async def delete_job(job: JobDep, session: SessionDep) -> Response:
    """Delete a job and its run history."""
    await jobs.delete_job(session, job=job)
    return Response(status_code=204)


@router.post("/{job_id}/_run", status_code=202, response_model=resource_of(JobRunRead))
async def run_job(job: JobDep, session: SessionDep, services: ServicesDep) -> Any:
    """Run the job now, in the background; returns the run (409 `job_already_running` while
    a run is going on, here or in another worker)."""
    await session.commit()
    return run_body(await services.knowledge.scheduler.run_now(job))


@router.get("/{job_id}/runs", response_model=collection_of("runs", JobRunRead))
async def list_runs(job: JobDep, session: SessionDep, page: PageDep) -> Any:
    """The job's runs, newest first, with status, timings, counts and errors."""
    result = await jobs.runs_page(session, job=job, page=page)
    return collection("runs", f"/api/jobs/{job.id}/runs", result, run_body)
