"""Settlement: one terminal row per request, billing what was delivered, lease expiry."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Connection, func, select, update

from billing import ledger
from billing.admission import admit, renew_lease
from billing.errors import (
    ReservationClosed,
    ReservationNotFound,
)
from billing.models import Budget, LedgerEntry
from tests.billing.builders import (
    Factory,
    SimulatedClock,
    budgeted_caller,
    counters_of,
    fake_model,
    seated_caller,
)

pytestmark = pytest.mark.anyio

MODEL = fake_model()
WORST_CASE = 10_000  # 100 prompt tokens at $10/M plus 300 output tokens at $30/M, in micro-dollars


async def test_settling_twice_returns_the_first_row(factory: Factory) -> None:
    caller = await seated_caller(factory)
    r = await admit(
        factory, caller=caller, model=MODEL, prompt_tokens=100, max_output_tokens=300, source="v1"
    )
    results = await asyncio.gather(
        ledger.settle(
            factory,
            reservation_id=r.id,
            outcome="completed",
            prompt_tokens=100,
            completion_tokens=200,
            estimated=False,
        ),
        ledger.settle(
            factory,
            reservation_id=r.id,
            outcome="failed",
            prompt_tokens=0,
            completion_tokens=0,
            estimated=False,
        ),
    )
    assert results[0].id == results[1].id
    async with factory() as session:
        count = await session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.reservation_id == r.id)
        )
    assert count == 1
    with pytest.raises(ReservationNotFound):
        await ledger.settle(
            factory,
            reservation_id="nope",
            outcome="completed",
            prompt_tokens=0,
            completion_tokens=0,
            estimated=False,
        )


@pytest.mark.parametrize("as_admitted", [False, True], ids=["by-id", "as-admitted"])
async def test_a_cancelled_request_is_billed_at_least_what_was_delivered(
    factory: Factory, as_admitted: bool
) -> None:
    caller = await seated_caller(factory)
    r = await admit(
        factory, caller=caller, model=MODEL, prompt_tokens=100, max_output_tokens=300, source="chat"
    )
    await renew_lease(factory, reservation_id=r.id, completion_tokens_so_far=120)
    entry = await ledger.settle(
        factory,
        reservation_id=r.id,
        outcome="cancelled",
        prompt_tokens=100,
        completion_tokens=50,
        estimated=True,
        admitted=r if as_admitted else None,  # as admitted: before the delivery was reported
    )
    assert (entry.completion_tokens, entry.cost_micros) == (120, 1_000 + 3_600)
    assert entry.estimated


async def test_a_crashed_requests_lease_expires_and_its_reservation_is_released(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    caller, budget = await budgeted_caller(factory, limit_micros=WORST_CASE)
    crashed = await admit(
        factory,
        caller=caller,
        model=MODEL,
        prompt_tokens=100,
        max_output_tokens=300,
        source="chat",
        lease_seconds=30,
    )
    await renew_lease(factory, reservation_id=crashed.id, completion_tokens_so_far=40)
    sim_clock.advance(20)
    assert await ledger.release_expired(factory) == 0
    sim_clock.advance(31)
    # The next admission finds the budget held, releases the expired lease itself, and fits.
    second = await admit(
        factory,
        caller=caller,
        model=fake_model(),
        prompt_tokens=10,
        max_output_tokens=10,
        source="chat",
    )
    async with factory() as session:
        entry = await ledger.get_entry(session, reservation_id=crashed.id)
    assert entry is not None
    assert (entry.outcome, entry.prompt_tokens, entry.completion_tokens) == ("interrupted", 100, 40)
    (counter,) = await counters_of(factory, budget.id)
    assert counter.spent_micros == 1_000 + 1_200
    assert counter.reserved_micros == second.reserved_micros
    with pytest.raises(ReservationClosed):
        await renew_lease(factory, reservation_id=crashed.id, completion_tokens_so_far=50)


async def test_the_callers_record_commits_with_the_bill_or_not_at_all(factory: Factory) -> None:
    caller, budget = await budgeted_caller(
        factory, scope="global", limit_micros=1_000_000, period="month"
    )
    r = await admit(
        factory, caller=caller, model=MODEL, prompt_tokens=100, max_output_tokens=300, source="v1"
    )
    seen: list[int] = []

    def failing(_connection: Connection, entry: LedgerEntry) -> None:
        seen.append(int(entry.cost_micros))
        raise RuntimeError("the caller's own write failed")

    with pytest.raises(RuntimeError):
        await ledger.settle(
            factory,
            reservation_id=r.id,
            outcome="completed",
            prompt_tokens=100,
            completion_tokens=200,
            estimated=False,
            also=failing,
        )
    assert seen == [7_000]  # 100 x $10/M + 200 x $30/M, computed in the transaction
    async with factory() as session:
        assert await ledger.get_entry(session, reservation_id=r.id) is None  # rolled back
    (counter,) = await counters_of(factory, budget.id)
    assert (counter.spent_micros, counter.reserved_micros) == (0, WORST_CASE)

    def recorded(connection: Connection, entry: LedgerEntry) -> None:
        connection.execute(
            update(Budget).where(Budget.id == budget.id).values(name=f"after {entry.outcome}")
        )

    await ledger.settle(
        factory,
        reservation_id=r.id,
        outcome="completed",
        prompt_tokens=100,
        completion_tokens=200,
        estimated=False,
        also=recorded,
    )
    (counter,) = await counters_of(factory, budget.id)
    assert (counter.spent_micros, counter.reserved_micros) == (7_000, 0)
    async with factory() as session:
        renamed = await session.get(Budget, budget.id)
    assert renamed is not None and renamed.name == "after completed"


async def test_the_holds_of_a_dead_process_are_released_at_once(factory: Factory) -> None:
    caller, budget = await budgeted_caller(
        factory, scope="global", limit_micros=1_000_000, period="month"
    )
    dead, alive = [
        await admit(
            factory,
            caller=caller,
            model=MODEL,
            prompt_tokens=100,
            max_output_tokens=300,
            source="chat",
            process_id=process,
        )
        for process in ("dead-process", "live-process")
    ]
    assert await ledger.release_of(factory, []) == 0
    assert await ledger.release_of(factory, ["dead-process"]) == 1
    assert await ledger.release_of(factory, ["dead-process"]) == 0  # once
    async with factory() as session:
        entry = await ledger.get_entry(session, reservation_id=dead.id)
        assert entry is not None and entry.outcome == "interrupted"
        assert entry.prompt_tokens == 100  # billed its prompt, as an expired lease is
        assert await ledger.get_entry(session, reservation_id=alive.id) is None
    (counter,) = await counters_of(factory, budget.id)
    assert counter.reserved_micros == WORST_CASE  # only the live call's hold is left
    assert counter.spent_micros == 1_000  # 100 prompt tokens at $10/M
