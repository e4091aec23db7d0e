"""Usage trends from the ledger: month ranges for the monthly report, and the top consumers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from billing import periods
from billing.models import LedgerEntry
from core.errors import InvalidInput

ConsumerKind = Literal["users", "teams", "apiTokens", "assistants"]
TopPeriod = Literal["day", "week", "month"]
MAX_MONTHS = 120
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_CONSUMERS: dict[ConsumerKind, InstrumentedAttribute[Any]] = {
    "users": LedgerEntry.user_id,
    "teams": LedgerEntry.team_id,
    "apiTokens": LedgerEntry.api_token_id,
    "assistants": LedgerEntry.assistant_id,
}


@dataclass(frozen=True, kw_only=True)
class Consumer:
    """What one user, team, API token or assistant used in a period."""

    id: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_micros: int

    @property
    def total_tokens(self) -> int:
        """Prompt and completion tokens together."""
        return self.prompt_tokens + self.completion_tokens


def month_start(text: str, *, name: str) -> datetime:
    """The first instant (UTC) of a `YYYY-MM` month.

    Raises:
        InvalidInput: not a month between 1970-01 and 9998-12.
    """
    found = _MONTH.fullmatch(text)
    if found is None or not 1 <= int(found[2]) <= 12 or not 1970 <= int(found[1]) <= 9998:
        raise InvalidInput(f"{name} must be a month as YYYY-MM.", **{name: text})
    return datetime(int(found[1]), int(found[2]), 1, tzinfo=UTC)


def month_range(first: str | None, last: str | None, *, now: datetime) -> tuple[datetime, datetime]:
    """The span from the start of month `first` to the end of month `last` (both included).

    `last` defaults to this month and `first` to eleven months before `last`.

    Raises:
        InvalidInput: a bad month, `first` after `last`, or more than 120 months.
    """
    end_month = month_start(last, name="to") if last else periods.start_of("month", now)
    if first:
        start = month_start(first, name="from")
    else:
        back = end_month.year * 12 + end_month.month - 1 - 11
        start = datetime(back // 12, back % 12 + 1, 1, tzinfo=UTC)
    months = (end_month.year - start.year) * 12 + end_month.month - start.month + 1
    if not 1 <= months <= MAX_MONTHS:
        raise InvalidInput(
            f"from must be a month no later than to, at most {MAX_MONTHS} months before it.",
            months=months,
        )
    end = periods.next_start("month", end_month)
    assert end is not None
    return start, end


def period_window(period: TopPeriod, now: datetime) -> tuple[datetime, datetime]:
    """The calendar day, ISO week or month (UTC) containing `now`: start, exclusive end."""
    start = periods.start_of(period, now)
    end = periods.next_start(period, start)
    assert end is not None
    return start, end


async def top_consumers(
    session: AsyncSession, *, start: datetime, end: datetime, limit: int
) -> dict[ConsumerKind, Sequence[Consumer]]:
    """The `limit` users, teams, API tokens and assistants that cost most in [start, end).

    Summed in the database; ties go to the most requests, then the id.
    """
    found: dict[ConsumerKind, Sequence[Consumer]] = {}
    for kind, column in _CONSUMERS.items():
        cost = func.coalesce(func.sum(LedgerEntry.cost_micros), 0)
        requests = func.count()
        stmt = (
            select(
                column,
                requests,
                func.coalesce(func.sum(LedgerEntry.prompt_tokens), 0),
                func.coalesce(func.sum(LedgerEntry.completion_tokens), 0),
                cost,
            )
            .where(column.is_not(None), LedgerEntry.created_at >= start)
            .where(LedgerEntry.created_at < end)
            .group_by(column)
            .order_by(cost.desc(), requests.desc(), column)
            .limit(limit)
        )
        found[kind] = [
            Consumer(
                id=str(row[0]),
                requests=int(row[1]),
                prompt_tokens=int(row[2]),
                completion_tokens=int(row[3]),
                cost_micros=int(row[4]),
            )
            for row in (await session.execute(stmt)).all()
        ]
    return found
