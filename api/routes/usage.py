"""Usage reports from the ledger: tokens, cost and requests, filtered and grouped, JSON or CSV."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Query, Request, Response
from pydantic import Field, TypeAdapter, ValidationError, create_model

from api.deps import AdminUser, PrincipalDep, SessionDep
from api.hal import (
    Collection,
    Resource,
    api_router,
    collection_of,
    resource,
    resource_of,
    whole,
    wire_of,
)
from api.responses import UsageReport
from api.usage_names import names_of
from billing import periods, usage, usage_trends
from billing.schemas import (
    ConsumerRead,
    GroupBy,
    TopConsumersRead,
    UsageMonthRead,
    UsageQuery,
    UsageRowRead,
)
from billing.usage_trends import TopPeriod
from core import clock
from core.clock import as_utc
from core.errors import InvalidInput

router = api_router(prefix="/api", tags=["Usage"])
Id = Annotated[str | None, Query(max_length=26)]
MonthlyUsage = create_model(
    "MonthlyUsage",
    __base__=collection_of("months", wire_of(UsageMonthRead, "UsageMonth")),
    __doc__="Usage per month, team and model; `from` and `to` the months covered.",
    first=(str, Field(alias="from")),
    last=(str, Field(alias="to")),
)
GROUPS: TypeAdapter[list[GroupBy]] = TypeAdapter(list[GroupBy])
GROUP_BY_HELP = (
    "groupBy takes distinct names among user, team, model, day, month, assistant, apiToken and"
    " source."
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
) -> Collection[UsageRowRead] | Response:
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
    names = await names_of(session, {g: [r.group.get(g) for r in rows] for g in query.group_by})
    if "text/csv" in request.headers.get("accept", ""):
        text = usage.to_csv(rows, query.group_by, names)
        headers = {"Content-Disposition": 'attachment; filename="usage.csv"'}
        return Response(text, media_type="text/csv", headers=headers)
    items = (_row(r, names) for r in rows)
    body = whole("usage", _href(request), items)
    body["groupBy"] = list(query.group_by)
    return body


def _href(request: Request) -> str:
    return str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")


def _row(row: usage.UsageRow, names: dict[str, dict[str, str]]) -> UsageRowRead:
    """A row with the names of its group's ids. The report holds the schema itself: FastAPI
    validates a response with `from_attributes`, so it reads it into the `UsageRow` items."""
    named = {
        g: names[g][value]
        for g, value in row.group.items()
        if value is not None and value in names.get(g, {})
    }
    return UsageRowRead.model_validate(row).model_copy(update={"names": named})


@router.get("/usage/monthly", response_model=MonthlyUsage)
async def monthly_usage(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    first: Annotated[str | None, Query(alias="from", max_length=7)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=7)] = None,
    user: Id = None,
    team: Id = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
) -> Collection[UsageMonthRead]:
    """Usage per month, per team and per model, oldest month first.

    `from` and `to` are months (`YYYY-MM`, UTC), both included: by default the twelve months up
    to this one, at most 120. Filter by `team`, `model` and (admins) `user`. Members see only
    their own usage, admins everyone's, as in `GET /api/usage`; each row names its team.
    """
    start, end = usage_trends.month_range(first, last, now=clock.now())
    query = UsageQuery(
        user_id=user,
        team_id=team,
        model=model,
        start=start,
        end=end,
        group_by=["month", "team", "model"],
    )
    rows = await usage.report(
        session, query=query, viewer_id=principal.user.id, viewer_is_admin=principal.user.is_admin
    )
    teams = (await names_of(session, {"team": [r.group["team"] for r in rows]}))["team"]
    items = (
        UsageMonthRead(
            month=r.group["month"] or "",
            team_id=r.group["team"],
            team_name=teams.get(r.group["team"] or ""),
            model=r.group["model"] or "",
            requests=r.requests,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
            total_tokens=r.total_tokens,
            cost_micros=r.cost_micros,
        )
        for r in rows
    )
    body = whole("months", _href(request), items)
    last_month = periods.start_of("month", end - timedelta(days=1))
    body |= {"from": start.strftime("%Y-%m"), "to": last_month.strftime("%Y-%m")}
    return body


@router.get("/usage/top-consumers", response_model=resource_of(TopConsumersRead))
async def top_consumers(
    request: Request,
    _: AdminUser,
    session: SessionDep,
    period: TopPeriod | None = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Resource[TopConsumersRead]:
    """The users, teams, API tokens and assistants that cost most, each with its name (admins).

    Either `period` (`day`, `week` or `month`: the current calendar one, UTC; the default) or
    a `from`-`to` range (`to` exclusive); `limit` (1-100, default 10) per kind, by cost.
    """
    begin, finish = _window(period, start, end)
    found = await usage_trends.top_consumers(session, start=begin, end=finish, limit=limit)
    wanted = {dim: [c.id for c in found[kind]] for kind, dim in _KINDS.items()}
    names = await names_of(session, wanted)
    lists = {
        kind: [_consumer(c, names[dim].get(c.id)) for c in found[kind]]
        for kind, dim in _KINDS.items()
    }
    read = TopConsumersRead(
        period=None if start is not None else (period or "month"),
        start=begin,
        end=finish,
        users=lists["users"],
        teams=lists["teams"],
        api_tokens=lists["apiTokens"],
        assistants=lists["assistants"],
    )
    return resource(read, _href(request))


def _window(
    period: TopPeriod | None, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    if start is None and end is None:
        return usage_trends.period_window(period or "month", clock.now())
    if period is not None:
        raise InvalidInput("Give either period or from and to, not both.", period=period)
    if start is None or end is None:
        raise InvalidInput("Give both from and to (or a period).")
    begin, finish = _utc_or_422(start), _utc_or_422(end)
    if begin >= finish:
        raise InvalidInput("from must be before to.")
    return begin, finish


_KINDS: dict[usage_trends.ConsumerKind, str] = {
    "users": "user",
    "teams": "team",
    "apiTokens": "apiToken",
    "assistants": "assistant",
}


def _consumer(consumer: usage_trends.Consumer, name: str | None) -> ConsumerRead:
    return ConsumerRead(
        id=consumer.id,
        name=name,
        requests=consumer.requests,
        prompt_tokens=consumer.prompt_tokens,
        completion_tokens=consumer.completion_tokens,
        total_tokens=consumer.total_tokens,
        cost_micros=consumer.cost_micros,
    )


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
    return None if value is None else _utc_or_422(value)


def _utc_or_422(value: datetime) -> datetime:
    try:
        return as_utc(value)
    except OverflowError:
        raise InvalidInput("The time is out of range.", time=value.isoformat()) from None
