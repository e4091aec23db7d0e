"""The one source of the current time, injectable so tests can freeze or move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time in UTC, timezone-aware."""
    return datetime.now(UTC)


_clock: Clock = utcnow


def now() -> datetime:
    """The current time according to the installed clock."""
    return _clock()


def install(clock: Clock | None) -> None:
    """Replace the process clock (tests freeze or move time with it); None restores real time."""
    global _clock
    _clock = clock or utcnow


def as_utc(value: datetime) -> datetime:
    """A datetime read back from a database as aware UTC (SQLite drops the zone)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
