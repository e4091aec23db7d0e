"""Create/Update/Read shapes of library folders and files, searches, jobs and their runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from core.schemas import Schema

FileStatus = Literal["pending", "indexing", "indexed", "failed"]
JobType = Literal["index-files", "library-sync"]


class FolderCreate(Schema):
    """A new library folder: yours, or a team's you belong to (`teamId`)."""

    name: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=2000)
    team_id: str | None = Field(default=None, max_length=26)


class FolderUpdate(Schema):
    """Changes to a folder; omitted fields stay."""

    name: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=2000)


class FolderRead(Schema):
    """A library folder."""

    id: str
    name: str
    description: str
    owner_user_id: str | None
    team_id: str | None
    created_at: datetime
    updated_at: datetime


class FileUpdate(Schema):
    """Rename a file or move it to another folder of the same owner (`folderId: null` for none)."""

    name: str | None = Field(default=None, min_length=1, max_length=500)
    folder_id: str | None = Field(default=None, max_length=26)


class FileRead(Schema):
    """A library file and how far its indexing has come."""

    id: str
    name: str
    file_type: str
    size: int
    sha256: str
    folder_id: str | None
    owner_user_id: str | None
    team_id: str | None
    status: FileStatus
    progress: float
    chunks_indexed: int
    chunk_count: int
    pages: int | None
    error_code: str | None
    error: str | None
    model_id: str | None
    source_path: str | None
    indexed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ChunkRead(Schema):
    """A stored chunk of a file, located for citations."""

    index: int
    text: str
    page: int | None
    section: list[str]
    start: int
    end: int


class SearchRequest(Schema):
    """A search over the library files you may see, optionally only some files or folders."""

    query: str = Field(min_length=1, max_length=2000)
    file_ids: list[str] | None = Field(default=None, max_length=500)
    folder_ids: list[str] | None = Field(default=None, max_length=500)
    limit: int = Field(default=5, ge=1, le=50)


class CitationRead(Schema):
    """Where a passage comes from."""

    file_id: str
    file_name: str
    page: int | None
    section: list[str]
    snippet: str
    start: int
    end: int


class PassageRead(Schema):
    """A retrieved chunk with its score and citation."""

    text: str
    score: float
    chunk_index: int
    citation: CitationRead


class JobCreate(Schema):
    """A new job. `index-files` params: `fileIds` and/or `folderId`. `library-sync` params:
    `path` (a folder under the server's sync root) and `folderId` (the library folder to mirror
    into). `schedule` is a cron expression evaluated in `timeZone`."""

    name: str = Field(min_length=1, max_length=300)
    type: JobType
    params: dict[str, Any] = Field(default_factory=dict)
    schedule: str | None = Field(default=None, max_length=200)
    time_zone: str = Field(default="UTC", min_length=1, max_length=100)
    enabled: bool = True


class JobUpdate(Schema):
    """Changes to a job; omitted fields stay (`schedule: ""` removes the schedule)."""

    name: str | None = Field(default=None, min_length=1, max_length=300)
    params: dict[str, Any] | None = None
    schedule: str | None = Field(default=None, max_length=200)
    time_zone: str | None = Field(default=None, min_length=1, max_length=100)
    enabled: bool | None = None


class JobRead(Schema):
    """A job and when it runs next."""

    id: str
    name: str
    type: str = Field(validation_alias="job_type")
    params: dict[str, Any]
    schedule: str | None
    time_zone: str
    enabled: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    running: bool = False
    created_at: datetime
    updated_at: datetime


class JobRunRead(Schema):
    """One run of a job."""

    id: str
    job_id: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None = None
    counts: dict[str, Any]
    error: str | None
