"""Knowledge tables: library folders and files, and the jobs that index and sync them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, IdMixin, TimestampMixin

FILE_STATUSES = ("pending", "indexing", "indexed", "failed")
RUN_STATUSES = ("running", "done", "failed")
STEP_STATUSES = ("pending", "running", "done", "failed", "skipped")


class LibraryFolder(IdMixin, TimestampMixin, Base):
    """A folder of library files, owned by a user or by a team."""

    __tablename__ = "knowledge_folder"

    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(String(2000), default="")
    owner_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[str | None] = mapped_column(
        ForeignKey("core_team.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str | None] = mapped_column(String(26))


class LibraryFile(IdMixin, TimestampMixin, Base):
    """An uploaded (or synced) file, its stored bytes and how far its indexing has come."""

    __tablename__ = "knowledge_file"
    # The storage quota's sum of what a user uploaded to their teams' libraries (knowledge_0004).
    __table_args__ = (Index("ix_knowledge_file_team_uploader", "team_id", "created_by"),)

    name: Mapped[str] = mapped_column(String(500))
    owner_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="CASCADE"), index=True
    )
    # By team through ix_knowledge_file_team_uploader, whose first column it is (knowledge_0005).
    team_id: Mapped[str | None] = mapped_column(ForeignKey("core_team.id", ondelete="CASCADE"))
    folder_id: Mapped[str | None] = mapped_column(
        ForeignKey("knowledge_folder.id", ondelete="SET NULL"), index=True
    )
    created_by: Mapped[str | None] = mapped_column(String(26))
    file_type: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    error_code: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(String(2000))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    chunks_indexed: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int | None] = mapped_column(Integer)
    model_id: Mapped[str | None] = mapped_column(String(300))
    source_path: Mapped[str | None] = mapped_column(String(1000))
    indexed_at: Mapped[datetime | None]
    # The version of the file's chunks that searches return (`knowledge.indexing`), set in one
    # write when a version is whole; None until the first indexing completes.
    live_version: Mapped[str | None] = mapped_column(String(32))
    # Which process is indexing the file and until when (a dead process's claim runs out).
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]


class Job(IdMixin, TimestampMixin, Base):
    """Ordered actions run now or on a cron schedule, shared like assistants.

    A draft is a row whose `editing_id` points at the published job it will replace; drafts never
    run on their schedule.
    """

    __tablename__ = "knowledge_job"

    name: Mapped[str] = mapped_column(String(300))
    # [{type, condition, params}], run in order (`knowledge.job_actions`)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    schedule: Mapped[str | None] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(100), default="UTC")
    start_at: Mapped[datetime | None]
    end_at: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)
    last_run_at: Mapped[datetime | None]
    owner_user_id: Mapped[str] = mapped_column(
        ForeignKey("core_user.id", ondelete="CASCADE"), index=True
    )
    editing_id: Mapped[str | None] = mapped_column(
        ForeignKey("knowledge_job.id", ondelete="CASCADE"), index=True
    )
    # private | team | instance; `permission` (use | edit) is what the shared-with get.
    visibility: Mapped[str] = mapped_column(String(20), default="private")
    team_id: Mapped[str | None] = mapped_column(
        ForeignKey("core_team.id", ondelete="SET NULL"), index=True
    )
    permission: Mapped[str] = mapped_column(String(20), default="use")
    # The lease: set by one conditional update, so a job runs in one place at a time.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]


class JobRun(IdMixin, TimestampMixin, Base):
    """One run of a job: when, how it went, what each of its steps did."""

    __tablename__ = "knowledge_job_run"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_job.id", ondelete="CASCADE"), index=True
    )
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_code: Mapped[str | None] = mapped_column(String(100))  # the first failed step's
    error: Mapped[str | None] = mapped_column(Text)
    # [{index, type, condition, status, startedAt, finishedAt, durationMs, progress, log, result,
    #   errorCode, error}], saved as the run goes
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
