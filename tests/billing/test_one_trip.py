"""Admission and settlement given what admission returned (as every metered call settles): one
statement each on PostgreSQL when no budget applies, the ordinary path otherwise; the same
guarantees on both databases."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from billing import ledger
from billing.admission import Caller, admit
from billing.errors import RateLimitExceeded
from billing.models import LedgerEntry, Reservation
from billing.ratelimits import RateLimits
from tests.billing.builders import Factory, SimulatedClock, fake_model, seated_caller

pytestmark = pytest.mark.anyio

MODEL = fake_model()


async def _admit(
    factory: Factory, caller: Caller, limits: RateLimits | None = None, output: int = 800
) -> Reservation:
    return await admit(
        factory,
        caller=caller,
        model=MODEL,
        prompt_tokens=100,
        max_output_tokens=output,
        source="v1",
        limits=limits or RateLimits(),
        process_id="worker-1",
    )


async def _settle(factory: Factory, r: Reservation, outcome: ledger.Outcome) -> LedgerEntry:
    return await ledger.settle(
        factory,
        reservation_id=r.id,
        outcome=outcome,
        prompt_tokens=100,
        completion_tokens=100,
        estimated=False,
        admitted=r,
    )


async def test_racing_settlements_and_a_crash_release_leave_one_ledger_row(
    factory: Factory,
) -> None:
    caller = await seated_caller(factory)
    admitted = [await _admit(factory, caller) for _ in range(10)]  # terms kept from the 2nd
    for r in admitted:
        rows = await asyncio.gather(
            _settle(factory, r, "completed"),
            _settle(factory, r, "failed"),
            ledger.release_of(factory, ["worker-1"]),
        )
        first, second = rows[0], rows[1]
        assert isinstance(first, LedgerEntry) and isinstance(second, LedgerEntry)
        assert first.id == second.id
    async with factory() as session:
        entries = list(await session.scalars(select(LedgerEntry)))
        still_open = await ledger.open_reservations(session)
    assert sorted(e.reservation_id for e in entries) == sorted(r.id for r in admitted)
    assert still_open == []


async def test_a_settled_call_counts_what_it_used_in_the_token_window(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    caller = await seated_caller(factory)
    limits = RateLimits(user_tokens_per_minute=1_000)
    first = await _admit(factory, caller, limits)
    with pytest.raises(RateLimitExceeded):
        await _admit(factory, caller, limits, output=700)
    await _settle(factory, first, "completed")  # 200 tokens used of the 900 held
    await _admit(factory, caller, limits, output=700)
    async with factory() as session:
        count = await session.scalar(select(func.count()).select_from(LedgerEntry))
    assert count == 1
