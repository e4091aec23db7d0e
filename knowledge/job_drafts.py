"""Drafts of jobs, as assistants have them: a copy that refers back to the published job.

`open_draft` makes (or returns) the one draft of a job; the draft is changed with the same
update as any job and can be run to try it (it never runs on its schedule); `commit` copies it
onto the published job in one transaction and removes it; deleting a draft discards it. Sharing
belongs to the published job throughout.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge import jobs
from knowledge.errors import JobAlreadyRunning, JobNotFound, NotAJobDraft
from knowledge.models import Job

CONTENT_FIELDS = ("name", "actions", "schedule", "time_zone", "start_at", "end_at", "enabled")


async def open_draft(session: AsyncSession, *, job: Job) -> tuple[Job, bool]:
    """The job's draft, made from it if there is none; True when it was just made.

    Raises:
        NotAJobDraft: `job` is itself a draft (open drafts from the published one).
    """
    if job.editing_id is not None:
        raise NotAJobDraft("That is a draft already; edit it directly.", job_id=job.id)
    existing = await session.scalar(select(Job).where(Job.editing_id == job.id))
    if existing is not None:
        return existing, False
    values = {name: getattr(job, name) for name in CONTENT_FIELDS}
    draft = Job(owner_user_id=job.owner_user_id, editing_id=job.id, **values)
    jobs.schedule(draft)
    session.add(draft)
    await session.flush()
    return draft, True


async def draft_of(session: AsyncSession, *, published: Job) -> Job:
    """The open draft of a published job.

    Raises:
        NotAJobDraft: the job has no open draft.
    """
    draft = await session.scalar(select(Job).where(Job.editing_id == published.id))
    if draft is None:
        raise NotAJobDraft("This job has no open draft.", job_id=published.id)
    return draft


async def commit(session: AsyncSession, *, draft: Job) -> Job:
    """Publish a draft onto its job (schedule included) and remove the draft with its trial runs.

    Raises:
        NotAJobDraft: `draft` is a published job.
        JobAlreadyRunning: a trial run of the draft is still going.
    """
    if draft.editing_id is None:
        raise NotAJobDraft(job_id=draft.id)
    if jobs.is_running(draft):
        raise JobAlreadyRunning("A run of the draft is going on; commit when it ends.")
    published = await session.get(Job, draft.editing_id)
    if published is None:
        raise JobNotFound(job_id=draft.editing_id)
    for name in CONTENT_FIELDS:
        setattr(published, name, getattr(draft, name))
    jobs.schedule(published)
    await session.delete(draft)
    await session.flush()
    return published
