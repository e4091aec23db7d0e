"""Create/Update/Read shapes of library folders and files, searches, jobs and their runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from core.schemas import Schema

FileStatus = Literal["pending", "indexing", "indexed", "failed"]
ActionType = Literal["index-files", "library-sync", "api-call", "email", "assistant-prompt"]
Condition = Literal["always", "on_success", "on_failure"]
Visibility = Literal["private", "team", "instance"]
Permission = Literal["use", "edit"]
MAX_ACTIONS = 20


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


class JobAction(Schema):
    """One step of a job, run in order when `condition` holds for the result of the step that ran
    before it (`always`; `on_success`/`on_failure` of the last step that ran; the first step's
    "previous result" is a success). Params by type: `index-files` {fileIds, folderId};
    `library-sync` {path, folderId} (admins); `api-call` {method, url, headers, body,
    assistantId}; `email` {to[], subject, body}; `assistant-prompt` {assistantId, prompt, model,
    saveChat, emailTo[], subject}."""

    type: ActionType
    condition: Condition = "always"
    params: dict[str, Any] = Field(default_factory=dict)


class JobCreate(Schema):
    """A new job: ordered `actions`, or (as before actions existed) one `type` with `params`.
    `schedule` is a cron expression evaluated in `timeZone`, between `startAt` and `endAt`."""

    name: str = Field(min_length=1, max_length=300)
    actions: list[JobAction] | None = Field(default=None, min_length=1, max_length=MAX_ACTIONS)
    type: ActionType | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    schedule: str | None = Field(default=None, max_length=200)
    time_zone: str = Field(default="UTC", min_length=1, max_length=100)
    start_at: datetime | None = None
    end_at: datetime | None = None
    enabled: bool = True
    visibility: Visibility = "private"
    team_id: str | None = Field(default=None, max_length=26)
    permission: Permission = "use"

    @model_validator(mode="after")
    def _one_way_to_say_what_runs(self) -> JobCreate:
        if (self.actions is None) == (self.type is None):
            raise ValueError("Give either `actions` or `type` (with `params`), not both.")
        return self

    def steps(self) -> list[JobAction]:
        """The job's actions, a lone `type` with `params` as one action."""
        if self.actions is not None:
            return self.actions
        assert self.type is not None
        return [JobAction(type=self.type, params=self.params)]


class JobUpdate(Schema):
    """Changes to a job or a draft; omitted fields stay (`schedule: ""` removes the schedule,
    `startAt`/`endAt: null` removes a bound)."""

    name: str | None = Field(default=None, min_length=1, max_length=300)
    actions: list[JobAction] | None = Field(default=None, min_length=1, max_length=MAX_ACTIONS)
    params: dict[str, Any] | None = None  # a one-action job's params, as before actions existed
    schedule: str | None = Field(default=None, max_length=200)
    time_zone: str | None = Field(default=None, min_length=1, max_length=100)
    start_at: datetime | None = None
    end_at: datetime | None = None
    enabled: bool | None = None
    visibility: Visibility | None = None
    team_id: str | None = Field(default=None, max_length=26)
    permission: Permission | None = None


class JobRead(Schema):
    """A job (or a draft of one), when it runs next, and what the caller may do with it."""

    id: str
    name: str
    type: str  # the first action's type
    actions: list[JobAction]
    schedule: str | None
    time_zone: str
    start_at: datetime | None
    end_at: datetime | None
    enabled: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    running: bool = False
    owner_user_id: str
    editing_id: str | None
    visibility: str
    team_id: str | None
    permission: str
    access: str  # edit | use
    created_at: datetime
    updated_at: datetime


class JobStepRead(Schema):
    """What one action did in a run: status, timings, progress (0-1), log lines, result."""

    index: int
    type: str
    condition: str
    status: str  # pending | running | done | failed | skipped
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    progress: float = 0.0
    log: list[str] = Field(default_factory=list)
    result: dict[str, Any] = Field(default_factory=dict)
    error_code: str | None = None  # the error's code (`library_sync_over_storage_quota`...)
    error: str | None = None


class JobRunRead(Schema):
    """One run of a job, with each of its steps."""

    id: str
    job_id: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None = None
    counts: dict[str, Any]
    error_code: str | None = None  # the first failed step's `errorCode`
    error: str | None
    steps: list[JobStepRead] = Field(default_factory=list)


class FireTimesRead(Schema):
    """The next times a job's schedule fires, in its time zone."""

    job_id: str
    schedule: str | None
    time_zone: str
    fire_times: list[datetime]
