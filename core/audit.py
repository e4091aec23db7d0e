"""The audit log: who did what to which object, when, from where, and whether it worked.

Two functions record an event (an `AuditEvent` row, table `core_audit_event`):

- `record(session, kind=..., actor_id=..., subject_type=..., subject_id=..., outcome=...,
  details=...)` adds it to the caller's session, so it commits or rolls back with the change it
  describes: nothing is logged as done that was not done.
- `record_standalone(factory, kind=..., ...)` writes it in a short transaction of its own, for a
  failure whose request then fails (a refused sign-in, a forged token): it stays recorded. On
  SQLite, do not call it while a session of yours holds the write lock (a writing request's
  `SessionDep` that has written): end that transaction first, or it waits for itself.

Kinds are dotted, `<object>.<what happened>`: `sign_in.succeeded`, `sign_in.failed`,
`token.created`, `token.revoked`, `grant.created`, `grant.revoked`, `user.created`,
`user.role_changed`, `user.deactivated`, `user.deleted`, `password.changed`,
`team.member_added`, `team.member_removed`, `secret.changed`, `two_factor.enabled`,
`session.ended`, ...
`outcome` is `success` or `failure`. The client's address and user agent come from `Origin`,
which the API sets per request (`origin.set(...)`); a caller may pass its own.

Refusals a stranger can repeat (wrong passwords, refused OAuth clients) go through
`core.audit_refusals`, which counts repeats on one event (`count`, `last_at`) instead of adding
a row each.

`details` is JSON for people reading the log. Never put a secret in it: values under keys that
name one (`password`, `secret`, `token`, `code`, ...) are replaced by `[redacted]`.

Events older than `SWITCHBOARD_AUDIT_RETENTION_DAYS` are deleted by `prune`, which the app's
background loop calls (`api.webhooks.send_forever`, every few seconds).
"""

from __future__ import annotations

import contextvars
import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock
from core.database import write_transaction
from core.errors import NotFound
from core.listing import Page, PageRequest, paginate
from core.models import AuditEvent, AuditRepeat

Outcome = Literal["success", "failure"]
REDACTED = "[redacted]"
# Keys whose values are never stored: a secret may hide under any of these names.
_SECRET_KEY = re.compile(
    r"(password|secret|token$|^token|codes?$|^key$|credential|api_?key|authorization|cookie)", re.I
)
# Keys that name a secret's *id* or *name*, not its value, are kept.
_HARMLESS_KEY = re.compile(r"(id|ids|name|names|prefix|count|kind|type)$", re.I)
CSV_COLUMNS = (
    "at",
    "kind",
    "outcome",
    "actorId",
    "subjectType",
    "subjectId",
    "ip",
    "userAgent",
    "details",
    "count",
    "lastAt",
)
CSV_MAX_ROWS = 100_000


@dataclass(frozen=True)
class Origin:
    """Where a request came from: the client's address and user agent."""

    ip: str | None = None
    user_agent: str | None = None


origin: contextvars.ContextVar[Origin | None] = contextvars.ContextVar("audit_origin", default=None)


@dataclass(frozen=True, kw_only=True)
class EventFilter:
    """What `GET /api/audit-events` narrows the log to; None: any."""

    kind: str | None = None
    actor_id: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def redact(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """`details` with every value under a secret-naming key replaced by `[redacted]`."""
    return {k: _redacted(k, v) for k, v in (details or {}).items()}


def _redacted(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key) and not _HARMLESS_KEY.search(key):
        return REDACTED
    if isinstance(value, Mapping):
        return redact(value)
    if isinstance(value, list | tuple):
        return [redact(v) if isinstance(v, Mapping) else v for v in value]
    return value


def _event(
    *,
    kind: str,
    actor_id: str | None,
    subject_type: str | None,
    subject_id: str | None,
    outcome: Outcome,
    details: Mapping[str, Any] | None,
    where: Origin | None,
) -> AuditEvent:
    where = where or origin.get() or Origin()
    return AuditEvent(
        at=clock.now(),
        kind=kind,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
        outcome=outcome,
        ip=(where.ip or None) and where.ip[:64],
        user_agent=(where.user_agent or None) and where.user_agent[:500],
        details=redact(details),
    )


async def record(
    session: AsyncSession,
    *,
    kind: str,
    actor_id: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    outcome: Outcome = "success",
    details: Mapping[str, Any] | None = None,
    where: Origin | None = None,
) -> AuditEvent:
    """Add an event to the caller's session: it is written when, and only if, the caller's
    transaction commits. `where` defaults to the current request's `origin`."""
    event = _event(
        kind=kind,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
        outcome=outcome,
        details=details,
        where=where,
    )
    session.add(event)
    await session.flush()
    return event


async def record_standalone(
    factory: async_sessionmaker[AsyncSession],
    *,
    kind: str,
    actor_id: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    outcome: Outcome = "failure",
    details: Mapping[str, Any] | None = None,
    where: Origin | None = None,
) -> None:
    """Write an event in a transaction of its own, committed at once: for failures that are
    recorded although the request that caused them fails (`outcome` defaults to `failure`)."""
    async with write_transaction(factory) as session:
        await record(
            session,
            kind=kind,
            actor_id=actor_id,
            subject_type=subject_type,
            subject_id=subject_id,
            outcome=outcome,
            details=details,
            where=where,
        )


def _conditions(query: EventFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    for column, value in (
        (AuditEvent.kind, query.kind),
        (AuditEvent.actor_id, query.actor_id),
        (AuditEvent.subject_type, query.subject_type),
        (AuditEvent.subject_id, query.subject_id),
        (AuditEvent.outcome, query.outcome),
    ):
        if value is not None:
            found.append(column == value)
    if query.since is not None:
        found.append(AuditEvent.at >= query.since)
    if query.until is not None:
        found.append(AuditEvent.at < query.until)
    return found


class AuditEventNotFound(NotFound):
    """No audit event has that id (it may have passed the retention time)."""

    code = "audit_event_not_found"


async def get(session: AsyncSession, *, event_id: str) -> AuditEvent:
    """An event by id.

    Raises:
        AuditEventNotFound: no event has that id.
    """
    event = await session.get(AuditEvent, event_id)
    if event is None:
        raise AuditEventNotFound(event_id=event_id)
    return event


async def list_page(
    session: AsyncSession, *, query: EventFilter, page: PageRequest
) -> Page[AuditEvent]:
    """Events matching `query`, newest first unless `page.sort` says otherwise (`at`, `kind`)."""
    return await paginate(
        session,
        select(AuditEvent).where(*_conditions(query)),
        page,
        sortable={"at": AuditEvent.at, "kind": AuditEvent.kind},
        default_sort="-at",
    )


async def all_matching(session: AsyncSession, *, query: EventFilter) -> Sequence[AuditEvent]:
    """Events matching `query`, oldest first, at most CSV_MAX_ROWS (for CSV exports)."""
    stmt = (
        select(AuditEvent)
        .where(*_conditions(query))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(CSV_MAX_ROWS)
    )
    return list(reversed(list(await session.scalars(stmt))))


def to_csv(events: Iterable[AuditEvent]) -> str:
    """Events as CSV, one row each; a cell a spreadsheet would run as a formula is quoted with
    a leading apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in events:
        cells = (
            clock.as_utc(e.at).isoformat(),
            e.kind,
            e.outcome,
            e.actor_id,
            e.subject_type,
            e.subject_id,
            e.ip,
            e.user_agent,
            json.dumps(e.details, sort_keys=True),
            str(e.count or 1),
            clock.as_utc(e.last_at).isoformat() if e.last_at else None,
        )
        writer.writerow([_cell(c) for c in cells])
    return out.getvalue()


def _cell(value: str | None) -> str:
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def prune(factory: async_sessionmaker[AsyncSession], *, keep_days: int) -> int:
    """Delete events older than `keep_days` days, and forget coalesced refusals' keys whose
    window has passed (`core.audit_refusals`); returns how many events went."""
    now = clock.now()
    cutoff = now - timedelta(days=keep_days)
    async with factory() as session:  # the usual case, nothing to delete, takes no write lock
        stale = await session.scalar(select(AuditEvent.id).where(AuditEvent.at < cutoff).limit(1))
        expired = await session.scalar(
            select(AuditRepeat.key).where(AuditRepeat.until <= now).limit(1)
        )
    if stale is None and expired is None:
        return 0
    async with write_transaction(factory) as session:
        await session.execute(delete(AuditRepeat).where(AuditRepeat.until <= now))
        result = await session.execute(delete(AuditEvent).where(AuditEvent.at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
