"""Growing delays after failed logins, per account, per client address and per known device.

Every attempt is counted before its password is checked and forgiven when it succeeds, so a
burst of parallel guesses is counted as exactly as a series. After `free` attempts within
FORGET_AFTER, each further one makes the next wait 1, 2, 4 ... seconds, up to `max_delay_seconds`.
The counts live in the database (`core_login_throttle`), so every worker and host sees them.

A browser that logged in to the account before (a device cookie, as OWASP's "device cookies"
advise) is counted on its own key instead of the account's and the address's: an attacker's
failures cannot lock the real user out of a browser they used before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import RateLimited
from core.models import LoginThrottle

# A key whose last attempt is older than this starts again from nothing.
FORGET_AFTER = timedelta(hours=1)


class LoginThrottled(RateLimited):
    """Too many failed logins; wait for the time in Retry-After and try again."""

    code = "login_throttled"


@dataclass(frozen=True)
class ThrottleLimits:
    """Attempts allowed without delay, per account (or known device) and per client address, and
    the longest delay."""

    free_attempts: int = 5
    free_attempts_per_address: int = 20
    max_delay_seconds: int = 300

    def delay(self, key: str, failures: int) -> float:
        """Seconds the next attempt on `key` must wait after `failures` counted attempts."""
        free = self.free_attempts_per_address if key.startswith("address:") else self.free_attempts
        if failures < free:
            return 0.0
        return float(min(2 ** min(failures - free, 30), self.max_delay_seconds))


def keys_for(*, username: str, address: str, device_id: str | None) -> tuple[str, ...]:
    """The counters one attempt moves: its known device's alone, else the account's and the
    client address's."""
    if device_id is not None:
        return (f"device:{device_id}",)
    return (f"account:{username.lower()[:150]}", f"address:{address[:100]}")


async def admit(session: AsyncSession, *, keys: Sequence[str], limits: ThrottleLimits) -> None:
    """Count an attempt on every key, unless one of them must still wait.

    Raises:
        LoginThrottled: a key is blocked; nothing is counted.
    """
    now = clock.now()
    await _forget_stale(session, now)
    rows = [await _row(session, key, now) for key in keys]
    waits = [
        (clock.as_utc(r.blocked_until) - now).total_seconds()
        for r in rows
        if r.blocked_until is not None and clock.as_utc(r.blocked_until) > now
    ]
    if waits:
        raise LoginThrottled(retry_after=max(1, math.ceil(max(waits))))
    for row in rows:
        row.failures += 1
        row.last_failure_at = now
        row.blocked_until = _until(now, limits.delay(row.key, row.failures))
    await session.flush()


async def succeeded(session: AsyncSession, *, keys: Sequence[str], limits: ThrottleLimits) -> None:
    """Forgive an attempt that gave the right password: the account's and device's counts start
    again; the address keeps the others' failures (other people may share it)."""
    for key in keys:
        row = await session.get(LoginThrottle, key, with_for_update=True)
        if row is None:
            continue
        if not key.startswith("address:"):
            await session.delete(row)
            continue
        row.failures = max(0, row.failures - 1)
        delay = limits.delay(key, row.failures)
        row.blocked_until = _until(clock.as_utc(row.last_failure_at), delay)
    await session.flush()


async def failures(session: AsyncSession, *, key: str) -> int:
    """The attempts counted on a key (0 when none)."""
    row = await session.get(LoginThrottle, key)
    return row.failures if row is not None else 0


async def _row(session: AsyncSession, key: str, now: datetime) -> LoginThrottle:
    """The key's counter, locked for this transaction, made when missing."""
    row = await session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
    if row is None:
        try:
            async with session.begin_nested():  # a racing attempt may make it first
                row = LoginThrottle(key=key, failures=0, last_failure_at=now)
                session.add(row)
        except IntegrityError:
            row = await session.get(LoginThrottle, key, with_for_update=True)
            assert row is not None
    elif clock.as_utc(row.last_failure_at) < now - FORGET_AFTER:
        row.failures = 0
    return row


async def _forget_stale(session: AsyncSession, now: datetime) -> None:
    unblocked = or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now)
    stale = and_(LoginThrottle.last_failure_at < now - FORGET_AFTER, unblocked)
    await session.execute(delete(LoginThrottle).where(stale))


def _until(start: datetime, delay: float) -> datetime | None:
    return start + timedelta(seconds=delay) if delay > 0 else None
