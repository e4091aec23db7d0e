"""Usage reports from the ledger: tokens, cost and requests, filtered and grouped, JSON or CSV."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request, Response
from pydantic import TypeAdapter, ValidationError

from api.deps import PrincipalDep, SessionDep
from api.hal import api_router, whole
from api.responses import UsageReport
from billing import usage
from billing.schemas import GroupBy, UsageQuery, UsageRowRead
from core.clock import as_utc
from core.errors import InvalidInput

router = api_router(prefix="/api", tags=["Usage"])
Id = Annotated[str | None, Query(max_length=26)]
GROUPS: TypeAdapter[list[GroupBy]] = TypeAdapter(list[GroupBy])
GROUP_BY_HELP = (
    "groupBy takes distinct names among user, team, model, day, assistant, apiToken and source."
)
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report; CSV (group columns, then the sums) with `Accept: text/csv`.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get("/usage", responses=CSV_RESPONSE, response_model=UsageReport)
async def usage_report(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    user: Id = None,
    team: Id = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    assistant: Id = None,
    api_token: Annotated[str | None, Query(alias="apiToken", max_length=26)] = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    group_by: Annotated[list[str] | None, Query(alias="groupBy")] = None,
) -> Any:
    """Tokens, cost (`costMicros`) and request counts from the usage ledger.

    Filter by `user`, `team`, `model`, `assistant`, `apiToken` and the time range `from`
    (inclusive) to `to` (exclusive); group by any of `user`, `team`, `model`, `day`, `assistant`,
    `apiToken`, `source` (comma-separated or repeated). Without `groupBy`, one total row. Members
    see only their own usage; admins see everyone's. Send `Accept: text/csv` for CSV.
    """
    query = UsageQuery(
        user_id=user,
        team_id=team,
        model=model,
        assistant_id=assistant,
        api_token_id=api_token,
        start=_utc(start),
        end=_utc(end),
        group_by=_groups(group_by or []),
    )
    rows = await usage.report(
        session, query=query, viewer_id=principal.user.id, viewer_is_admin=principal.user.is_admin
    )
    if "text/csv" in request.headers.get("accept", ""):
        text = usage.to_csv(rows, query.group_by)
        headers = {"Content-Disposition": 'attachment; filename="usage.csv"'}
        return Response(text, media_type="text/csv", headers=headers)
    href = str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
    items = (UsageRowRead.model_validate(r).model_dump(mode="json", by_alias=True) for r in rows)
    body = whole("usage", href, items)
    body["groupBy"] = list(query.group_by)
    return body


def _groups(raw: list[str]) -> list[GroupBy]:
    names = [name.strip() for value in raw for name in value.split(",") if name.strip()]
    try:
        groups = GROUPS.validate_python(names)
    except ValidationError:
        raise InvalidInput(GROUP_BY_HELP, groupBy=names) from None
    if len(set(groups)) != len(groups):
        raise InvalidInput(GROUP_BY_HELP, groupBy=names)
    return groups


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return as_utc(value)
    except OverflowError:
        raise InvalidInput("The time is out of range.", time=value.isoformat()) from None
