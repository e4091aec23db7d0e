"""Refused sign-ins are coalesced in the audit log: a flood from one address adds a bounded number
of rows whose counts add up to every refusal, on SQLite and PostgreSQL, concurrent or not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import audit_refusals, clock, logins
from core.errors import InvalidCredentials
from core.login_throttle import ThrottleLimits
from core.models import AuditEvent
from tests.support import AppHarness, Harnesses, frozen_clock

pytestmark = pytest.mark.anyio

UNTHROTTLED = ThrottleLimits(free_attempts=10**6, free_attempts_per_address=10**6)
CAP = audit_refusals.DISTINCT_PER_ADDRESS
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
async def app(make_module_harness: Harnesses) -> AsyncIterator[AppHarness]:
    async with make_module_harness.running() as harness:
        yield harness


async def _refuse(app: AppHarness, address: str, username: str) -> None:
    attempt = logins.Attempt(username=username, password="not-it", address=address)
    with pytest.raises(InvalidCredentials):
        await logins.log_in(app.services.sessions, attempt=attempt, limits=UNTHROTTLED, ttl=HOUR)


async def _failures(app: AppHarness, address: str) -> list[AuditEvent]:
    async with app.services.sessions() as session:
        found = await session.scalars(
            select(AuditEvent).where(AuditEvent.ip == address, AuditEvent.outcome == "failure")
        )
        return list(found)


async def test_200_refusals_with_one_username_from_one_address_add_one_row_counting_200(
    app: AppHarness,
) -> None:
    for _ in range(200):
        await _refuse(app, "203.0.113.1", "mallory")
    [event] = await _failures(app, "203.0.113.1")
    assert (event.kind, event.count) == ("sign_in.failed", 200)
    assert event.details == {"username": "mallory", "method": "password", "reason": "unknown_user"}
    assert event.last_at is not None and clock.as_utc(event.last_at) >= clock.as_utc(event.at)


async def test_rotating_200_usernames_adds_at_most_the_cap_and_one_many_distinct_row(
    app: AppHarness,
) -> None:
    for n in range(200):
        await _refuse(app, "203.0.113.2", f"user{n}")
    events = await _failures(app, "203.0.113.2")
    assert len(events) == CAP + 1
    assert sum(e.count for e in events) == 200
    [many] = [e for e in events if e.details.get("reason") == "many_distinct"]
    assert many.count == 200 - CAP and many.actor_id is None
    assert many.details["first"] == {
        "username": f"user{CAP}",
        "method": "password",
        "reason": "unknown_user",
    }


async def test_a_refusal_after_the_window_writes_a_new_row(app: AppHarness) -> None:
    start = clock.now()
    for moment in (start, start + timedelta(minutes=5), start + audit_refusals.WINDOW):
        with frozen_clock(moment):
            await _refuse(app, "203.0.113.3", "mallory")
    events = sorted(await _failures(app, "203.0.113.3"), key=lambda e: clock.as_utc(e.at))
    assert [e.count for e in events] == [2, 1]


async def test_concurrent_refusals_never_both_insert_and_every_one_is_counted(
    app: AppHarness,
) -> None:
    await asyncio.gather(*(_refuse(app, "203.0.113.4", "mallory") for _ in range(16)))
    [event] = await _failures(app, "203.0.113.4")
    assert event.count == 16
    await asyncio.gather(*(_refuse(app, "203.0.113.4", f"user{n}") for n in range(CAP + 16)))
    events = await _failures(app, "203.0.113.4")
    assert len(events) <= CAP + 1
    assert sum(e.count for e in events) == 16 + CAP + 16
