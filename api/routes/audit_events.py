"""The audit log (admins only): sign-ins, tokens, grants, roles, teams and secrets changed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Request, Response

from api.deps import AdminUser, PageDep, SessionDep
from api.hal import (
    Collection,
    Resource,
    api_router,
    collection,
    collection_of,
    resource,
    resource_of,
)
from core import audit
from core.clock import as_utc
from core.errors import InvalidInput
from core.models import AuditEvent
from core.schemas import AuditEventRead

router = api_router(prefix="/api/audit-events", tags=["Audit"])
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The events; CSV (oldest first) with `?format=csv` or `Accept: text/csv`.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}
Text = Annotated[str | None, Query(max_length=200)]


def event_body(event: AuditEvent) -> Resource[AuditEventRead]:
    """An audit event as a HAL resource."""
    return resource(AuditEventRead.model_validate(event), f"/api/audit-events/{event.id}")


@router.get(
    "",
    responses=CSV_RESPONSE,
    response_model=collection_of("auditEvents", AuditEventRead),
)
async def list_audit_events(
    request: Request,
    _: AdminUser,
    session: SessionDep,
    page: PageDep,
    kind: Text = None,
    actor: Annotated[str | None, Query(max_length=26)] = None,
    subject_type: Annotated[str | None, Query(alias="subjectType", max_length=40)] = None,
    subject: Text = None,
    outcome: Literal["success", "failure"] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    format: Literal["json", "csv"] = "json",
) -> Collection[Resource[AuditEventRead]] | Response:
    """The audit log, newest first: who did what (`kind`, e.g. `sign_in.failed`,
    `token.created`, `user.role_changed`, `team.member_added`, `secret.changed`), to which
    object (`subjectType`, `subjectId`), with which `outcome` (`success` or `failure`), from
    which address and user agent. Admins only.

    Filter by `kind`, `actor` (a user id), `subjectType`, `subject` (an object's id), `outcome`
    and the time range `since` (inclusive) to `until` (exclusive); paged with `start` and
    `limit`. With `format=csv` (or `Accept: text/csv`), every matching event (up to 100,000,
    oldest first) as CSV. Events are kept for `SWITCHBOARD_AUDIT_RETENTION_DAYS`.
    """
    query = audit.EventFilter(
        kind=kind,
        actor_id=actor,
        subject_type=subject_type,
        subject_id=subject,
        outcome=outcome,
        since=_utc(since),
        until=_utc(until),
    )
    if format == "csv" or "text/csv" in request.headers.get("accept", ""):
        text = audit.to_csv(await audit.all_matching(session, query=query))
        headers = {"Content-Disposition": 'attachment; filename="audit-events.csv"'}
        return Response(text, media_type="text/csv", headers=headers)
    result = await audit.list_page(session, query=query, page=page)
    params = {
        "kind": kind,
        "actor": actor,
        "subjectType": subject_type,
        "subject": subject,
        "outcome": outcome,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "sort": page.sort,
    }
    return collection("auditEvents", "/api/audit-events", result, event_body, params)


@router.get("/{event_id}", response_model=resource_of(AuditEventRead))
async def get_audit_event(
    event_id: str, _: AdminUser, session: SessionDep
) -> Resource[AuditEventRead]:
    """One audit event (admins only)."""
    return event_body(await audit.get(session, event_id=event_id))


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return as_utc(value)
    except OverflowError:
        raise InvalidInput("The time is out of range.", time=value.isoformat()) from None
