"""A job's actions: the kinds of work a step can do, and each step's record as a run goes.

Knowledge runs `index-files`, `library-sync` and `email` itself (`knowledge.job_kinds`); the app
adds the kinds that need packages above knowledge (`api-call`, `assistant-prompt`) to the same
table of `ActionKind`s, so the scheduler runs every step the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from core import clock
from core.errors import PermissionDenied
from knowledge.errors import InvalidJob
from knowledge.models import Job
from knowledge.schemas import JobAction

MAX_LOG_LINES = 200
MAX_LOG_LINE = 1000


class Step:
    """One action being run: its record (status, timings, progress, log, result), saved through
    `save` as the run goes."""

    def __init__(self, record: dict[str, Any], save: Callable[[], Awaitable[None]]) -> None:
        self.record = record
        self._save = save

    def log(self, line: str) -> None:
        """Add a line to the step's log (the first 200 lines are kept, each cut at 1,000
        characters)."""
        lines: list[str] = self.record["log"]
        if len(lines) < MAX_LOG_LINES:
            stamp = clock.now().strftime("%H:%M:%S")
            lines.append(f"{stamp} {line[:MAX_LOG_LINE]}")

    async def progress(self, fraction: float) -> None:
        """Record how far the step has come (0 to 1) and save the run's steps."""
        self.record["progress"] = round(min(1.0, max(0.0, fraction)), 4)
        await self._save()


class ActionKind(Protocol):
    """What one action type does: check its params when a job is saved, and do the work."""

    admin_only: bool

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        """The params this kind needs, checked and normalised (raises InvalidJob)."""
        ...

    async def perform(self, job: Job, params: dict[str, Any], step: Step) -> dict[str, Any]:
        """Do the work for the job's owner; returns counts or a result to show (raises a
        SwitchboardError with a message for the log when it fails)."""
        ...


def check_actions(
    kinds: Mapping[str, ActionKind], actions: Sequence[JobAction], *, is_admin: bool
) -> list[dict[str, Any]]:
    """A job's actions as stored, each checked by its kind.

    Raises:
        InvalidJob: an action type this server does not run, or bad params.
        PermissionDenied: an admins-only action (library-sync) saved by someone else.
    """
    stored = []
    for number, action in enumerate(actions, start=1):
        kind = kinds.get(action.type)
        if kind is None:
            raise InvalidJob(f"Action {number}: this server does not run {action.type!r}.")
        if kind.admin_only and not is_admin:
            raise PermissionDenied(f"Action {number}: only admins can add {action.type!r} steps.")
        try:
            params = kind.check(action.params)
        except InvalidJob as exc:
            raise InvalidJob(f"Action {number} ({action.type}): {exc.message}") from None
        stored.append({"type": action.type, "condition": action.condition, "params": params})
    return stored


def applies(condition: str, previous_ok: bool) -> bool:
    """Whether a step with this condition runs after a step that succeeded or failed."""
    if condition == "on_success":
        return previous_ok
    if condition == "on_failure":
        return not previous_ok
    return True


def new_record(index: int, action: Mapping[str, Any]) -> dict[str, Any]:
    """A step's record before it runs."""
    return {
        "index": index,
        "type": action.get("type", ""),
        "condition": action.get("condition", "always"),
        "status": "pending",
        "startedAt": None,
        "finishedAt": None,
        "durationMs": None,
        "progress": 0.0,
        "log": [],
        "result": {},
        "errorCode": None,
        "error": None,
    }
