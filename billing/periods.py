"""Budget periods: UTC, calendar-aligned, computed from their start so no job has to reset them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, assert_never

Period = Literal["day", "week", "month", "total"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def start_of(period: Period, at: datetime) -> datetime:
    """The start of the period containing `at` (midnight, ISO-week Monday, 1st; epoch for total)."""
    at = at.astimezone(UTC)
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return midnight
    if period == "week":
        return midnight - timedelta(days=midnight.weekday())
    if period == "month":
        return midnight.replace(day=1)
    if period == "total":
        return EPOCH
    assert_never(period)


def next_start(period: Period, start: datetime) -> datetime | None:
    """The start of the period after the one beginning at `start`; None for total (never resets)."""
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        if start.month == 12:
            return start.replace(year=start.year + 1, month=1)
        return start.replace(month=start.month + 1)
    if period == "total":
        return None
    assert_never(period)
