"""Budget periods: UTC calendar periods with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing import ledger, periods
from billing.admission import Caller, admit
from billing.errors import BudgetExceeded
from billing.models import Reservation
from tests.billing.builders import (
    Factory,
    SimulatedClock,
    budgeted_caller,
    counters_of,
    fake_model,
)

pytestmark = pytest.mark.anyio

MODEL = fake_model()


async def _worst_case(factory: Factory, caller: Caller) -> Reservation:
    return await admit(
        factory, caller=caller, model=MODEL, prompt_tokens=100, max_output_tokens=300, source="chat"
    )


async def _settle_in_full(factory: Factory, reservations: list[Reservation]) -> None:
    for r in reservations:
        await ledger.settle(
            factory,
            reservation_id=r.id,
            outcome="completed",
            prompt_tokens=100,
            completion_tokens=300,
            estimated=False,
        )


async def test_requests_straddling_midnight_count_in_their_own_periods(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    caller, budget = await budgeted_caller(factory, limit_micros=25_000, period="day")
    sim_clock.set(datetime(2026, 3, 4, 23, 59, 30, tzinfo=UTC))
    before = [await _worst_case(factory, caller) for _ in range(2)]
    with pytest.raises(BudgetExceeded) as refused:
        await _worst_case(factory, caller)
    assert refused.value.details["resetsAt"] == "2026-03-05T00:00:00+00:00"
    sim_clock.set(datetime(2026, 3, 5, 0, 0, 10, tzinfo=UTC))
    await _settle_in_full(factory, before)  # billed to the day they were admitted in
    after = [await _worst_case(factory, caller) for _ in range(2)]
    with pytest.raises(BudgetExceeded):
        await _worst_case(factory, caller)
    await _settle_in_full(factory, after)
    first, second = await counters_of(factory, budget.id)
    assert (first.spent_micros, first.reserved_micros) == (20_000, 0)
    assert (second.spent_micros, second.reserved_micros) == (20_000, 0)
    assert max(first.spent_micros, second.spent_micros) <= 25_000


def test_periods_are_utc_calendar_aligned_and_reset_at_the_next_start() -> None:
    at = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert periods.start_of("day", at) == datetime(2026, 12, 31, tzinfo=UTC)
    assert periods.start_of("week", at) == datetime(2026, 12, 28, tzinfo=UTC)
    assert periods.start_of("month", at) == datetime(2026, 12, 1, tzinfo=UTC)
    assert periods.next_start("month", datetime(2026, 12, 1, tzinfo=UTC)) == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    assert periods.next_start("week", datetime(2026, 12, 28, tzinfo=UTC)) == datetime(
        2027, 1, 4, tzinfo=UTC
    )
    assert periods.start_of("total", at) == periods.EPOCH
    assert periods.next_start("total", periods.EPOCH) is None
