"""Usage reports from the ledger: filter, group, and sum tokens, cost and requests."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from billing.models import LedgerEntry
from billing.schemas import GroupBy, UsageQuery


@dataclass(frozen=True, kw_only=True)
class UsageRow:
    """One group of a usage report; `group` maps each groupBy dimension to its value."""

    group: dict[str, str | None]
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_micros: int


_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "user": LedgerEntry.user_id,
    "team": LedgerEntry.team_id,
    "model": LedgerEntry.model,
    "assistant": LedgerEntry.assistant_id,
    "apiToken": LedgerEntry.api_token_id,
    "source": LedgerEntry.source,
}


def _dimension(name: GroupBy, dialect: str) -> ColumnElement[Any]:
    if name not in ("day", "month"):
        return _COLUMNS[name].expression
    if dialect == "postgresql":
        pattern = "YYYY-MM-DD" if name == "day" else "YYYY-MM"
        return func.to_char(func.timezone("UTC", LedgerEntry.created_at), pattern)
    return func.substr(func.datetime(LedgerEntry.created_at), 1, 10 if name == "day" else 7)


def _filters(query: UsageQuery, viewer_id: str, viewer_is_admin: bool) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    user_id = query.user_id if viewer_is_admin else viewer_id
    pairs: list[tuple[Any, str | None]] = [
        (LedgerEntry.user_id, user_id),
        (LedgerEntry.team_id, query.team_id),
        (LedgerEntry.model, query.model),
        (LedgerEntry.assistant_id, query.assistant_id),
        (LedgerEntry.api_token_id, query.api_token_id),
    ]
    conditions += [column == value for column, value in pairs if value is not None]
    if query.start is not None:
        conditions.append(LedgerEntry.created_at >= query.start)
    if query.end is not None:
        conditions.append(LedgerEntry.created_at < query.end)
    return conditions


async def report(
    session: AsyncSession, *, query: UsageQuery, viewer_id: str, viewer_is_admin: bool
) -> Sequence[UsageRow]:
    """Usage grouped by `query.group_by` (one total row when empty); members see only their own.

    `to` is exclusive. Groups come sorted by their dimension values.
    """
    dialect = session.get_bind().dialect.name
    dims = [_dimension(name, dialect).label(f"g{i}") for i, name in enumerate(query.group_by)]
    stmt = select(
        *dims,
        func.count().label("requests"),
        func.coalesce(func.sum(LedgerEntry.prompt_tokens), 0),
        func.coalesce(func.sum(LedgerEntry.completion_tokens), 0),
        func.coalesce(func.sum(LedgerEntry.cost_micros), 0),
    ).where(*_filters(query, viewer_id, viewer_is_admin))
    if dims:
        stmt = stmt.group_by(*dims).order_by(*dims)
    rows = []
    for row in (await session.execute(stmt)).all():
        values = list(row)
        group = {str(name): _text(values[i]) for i, name in enumerate(query.group_by)}
        requests, prompt, completion, cost = (int(v) for v in values[len(dims) :])
        if requests == 0 and not dims:
            continue
        rows.append(
            UsageRow(
                group=group,
                requests=requests,
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=prompt + completion,
                cost_micros=cost,
            )
        )
    return rows


def _text(value: object) -> str | None:
    return None if value is None else str(value)


NAMED: tuple[GroupBy, ...] = ("user", "team", "apiToken", "assistant")


def to_csv(
    rows: Sequence[UsageRow],
    group_by: Sequence[GroupBy],
    names: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """A report as CSV (for `Accept: text/csv`): the group columns, then the sums.

    With `names` (dimension → id → name), each user, team, apiToken and assistant column is
    followed by a `<dimension>Name` column.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    sums = ["requests", "promptTokens", "completionTokens", "totalTokens", "costMicros"]
    named = names is not None
    columns = [c for g in group_by for c in ([g, f"{g}Name"] if named and g in NAMED else [g])]
    writer.writerow([*columns, *sums])
    for row in rows:
        cells: list[str] = []
        for g in group_by:
            value = row.group.get(g) or ""
            cells.append(value)
            if names is not None and g in NAMED:
                cells.append(names.get(g, {}).get(value, ""))
        writer.writerow(
            [
                *cells,
                row.requests,
                row.prompt_tokens,
                row.completion_tokens,
                row.total_tokens,
                row.cost_micros,
            ]
        )
    return out.getvalue()
