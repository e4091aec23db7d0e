"""Admission and settlement given what admission returned (as every metered call settles): one
statement each on PostgreSQL, rate windows and budgets' holds included; the ordinary path
otherwise; the same guarantees on both databases."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import func, select

from billing import alerts, ledger
from billing.admission import Caller, admit, renew_lease
from billing.errors import BudgetExceeded, RateLimitExceeded
from billing.models import LedgerEntry, RateEvent, Reservation
from billing.ratelimits import RateLimits
from tests.billing.builders import (
    Factory,
    SimulatedClock,
    budgeted_caller,
    counters_of,
    fake_model,
    keep_terms,
    make_budget,
    one_statement_results,
    seated_caller,
)

pytestmark = pytest.mark.anyio

MODEL = fake_model()
WORST_CASE = 25_000  # 100 prompt tokens at $10/M and 800 output tokens at $30/M, in micro-dollars
COST = 4_000  # 100 prompt and 100 completion tokens


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


async def _admit_or_refused(factory: Factory, caller: Caller) -> Reservation | None:
    try:
        return await _admit(factory, caller)
    except BudgetExceeded:
        return None


async def test_parallel_admissions_under_two_budgets_admit_exactly_those_with_room(
    factory: Factory, sim_clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller, tight = await budgeted_caller(factory, scope="team", limit_micros=10 * WORST_CASE)
    roomy = await make_budget(factory, scope="global", limit_micros=10**9)
    await keep_terms(factory, caller, MODEL)  # the counters made too
    in_one_statement = one_statement_results(monkeypatch, "reserve_held")
    results = await asyncio.gather(*(_admit_or_refused(factory, caller) for _ in range(50)))
    admitted = [r for r in results if r is not None]
    assert len(admitted) == 10
    (counter,) = await counters_of(factory, roomy.id)
    assert counter.reserved_micros == 10 * WORST_CASE  # the refused held nothing
    if factory.kw["bind"].dialect.name == "postgresql":
        assert len([held for held in in_one_statement if held is not None]) == 10
    await asyncio.gather(*(_settle(factory, r, "completed") for r in admitted))
    for budget in (roomy, tight):
        (counter,) = await counters_of(factory, budget.id)
        assert (counter.spent_micros, counter.reserved_micros) == (10 * COST, 0)
    async with factory() as session:
        billed = await session.scalar(select(func.sum(LedgerEntry.cost_micros)))
    assert billed == 10 * COST


async def test_settled_calls_store_each_threshold_crossing_once(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    caller, budget = await budgeted_caller(
        factory,
        limit_micros=2 * COST,
        period="day",
        hard=False,
        thresholds=[0.5],
    )
    admitted = [await _admit(factory, caller) for _ in range(4)]
    await asyncio.gather(*(_settle(factory, r, "completed") for r in admitted))
    await _settle(factory, await _admit(factory, caller), "completed")
    async with factory() as session:
        stored, total = await alerts.list_alerts(session, budget_id=budget.id)
    assert sorted(a.threshold for a in stored) == [0.5, 1.0]
    assert total == 2


async def test_an_alert_lost_after_its_bill_committed_is_stored_by_the_next_settlement(
    factory: Factory, sim_clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller, budget = await budgeted_caller(
        factory, limit_micros=2 * COST, period="day", hard=False, thresholds=[0.5]
    )
    first, second = [await _admit(factory, caller) for _ in range(2)]

    def died(*_: object) -> None:
        raise ConnectionError("the process died between the bill and its alert")

    on_postgres = factory.kw["bind"].dialect.name == "postgresql"
    with monkeypatch.context() as dying:  # on PostgreSQL the alert is stored after the bill
        dying.setattr(ledger, "_record_crossings", died)
        with pytest.raises(ConnectionError) if on_postgres else contextlib.nullcontext():
            await _settle(factory, first, "completed")  # reaches 0.5
    await _settle(factory, second, "completed")  # reaches 1.0
    async with factory() as session:
        stored, _ = await alerts.list_alerts(session, budget_id=budget.id)
    assert sorted(a.threshold for a in stored) == [0.5, 1.0]
    (counter,) = await counters_of(factory, budget.id)
    assert (counter.spent_micros, counter.reserved_micros) == (2 * COST, 0)


async def test_a_period_whose_counter_is_not_made_yet_holds_room_in_it(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    caller, budget = await budgeted_caller(factory, limit_micros=10**6, period="day")
    first = await _admit(factory, caller)
    sim_clock.advance(24 * 3600)
    second = await _admit(factory, caller)
    yesterday, today = await counters_of(factory, budget.id)
    assert (yesterday.reserved_micros, today.reserved_micros) == (WORST_CASE, WORST_CASE)
    for r in (first, second):
        await _settle(factory, r, "completed")
    counted = [(c.spent_micros, c.reserved_micros) for c in await counters_of(factory, budget.id)]
    assert counted == [(COST, 0), (COST, 0)]


async def _admit_or_limited(factory: Factory, caller: Caller, limits: RateLimits) -> bool:
    try:
        await _admit(factory, caller, limits)
    except RateLimitExceeded:
        return False
    return True


async def test_parallel_admissions_under_a_rate_limit_admit_exactly_the_limit(
    factory: Factory, sim_clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = await seated_caller(factory)
    seven = RateLimits(user_requests_per_minute=7)
    await _admit(factory, caller, seven)  # the terms kept, the bucket made
    await _admit(factory, caller, seven)
    sim_clock.advance(61)  # their events expire
    in_one_statement = one_statement_results(monkeypatch, "reserve_rated")
    results = await asyncio.gather(*(_admit_or_limited(factory, caller, seven) for _ in range(40)))
    assert sum(results) == 7
    assert not await _admit_or_limited(factory, caller, seven)  # alone, on a fresh snapshot
    async with factory() as session:
        events = await session.scalar(select(func.count()).select_from(RateEvent))
        reservations = await session.scalar(select(func.count()).select_from(Reservation))
    assert (events, reservations) == (7, 9)  # the refused wrote nothing, the expired are gone
    if factory.kw["bind"].dialect.name == "postgresql":
        admitted_in_one = [rated for rated in in_one_statement if rated is not None]
        assert len(in_one_statement) == 41 and admitted_in_one, len(admitted_in_one)


async def _admit_or_turned_away(
    factory: Factory, caller: Caller, limits: RateLimits
) -> Reservation | None:
    try:
        return await _admit(factory, caller, limits)
    except (BudgetExceeded, RateLimitExceeded):
        return None


@pytest.mark.parametrize(
    ("per_minute", "room"),
    [pytest.param(7, 4, id="budget tighter"), pytest.param(4, 7, id="limit tighter")],
)
async def test_parallel_admissions_under_a_rate_limit_and_a_budget_admit_the_tighter_of_the_two(
    factory: Factory,
    sim_clock: SimulatedClock,
    monkeypatch: pytest.MonkeyPatch,
    per_minute: int,
    room: int,
) -> None:
    caller, budget = await budgeted_caller(factory, limit_micros=room * WORST_CASE, period="day")
    limits = RateLimits(user_requests_per_minute=per_minute)
    await keep_terms(factory, caller, MODEL, limits)  # the bucket and the counter made too
    sim_clock.advance(61)  # its event expires
    in_one_statement = one_statement_results(monkeypatch, "reserve_rated")
    results = await asyncio.gather(
        *(_admit_or_turned_away(factory, caller, limits) for _ in range(40))
    )
    admitted = [r for r in results if r is not None]
    assert len(admitted) == min(per_minute, room)
    assert (
        await _admit_or_turned_away(factory, caller, limits) is None
    )  # alone, on a fresh snapshot
    if factory.kw["bind"].dialect.name == "postgresql":
        assert [rated for rated in in_one_statement if rated is not None]
    await asyncio.gather(*(_settle(factory, r, "completed") for r in admitted))
    async with factory() as session:
        events = await session.scalar(select(func.count()).select_from(RateEvent))
        billed = (
            await session.execute(
                select(
                    func.sum(LedgerEntry.cost_micros),
                    func.sum(LedgerEntry.prompt_tokens + LedgerEntry.completion_tokens),
                )
            )
        ).one()
    assert events == len(admitted)  # the refused recorded nothing, the expired one is gone
    (counter,) = await counters_of(factory, budget.id)
    assert (counter.spent_micros, counter.spent_tokens) == tuple(billed)
    assert (counter.spent_micros, counter.reserved_micros, counter.reserved_tokens) == (
        len(admitted) * COST,
        0,
        0,
    )


async def test_a_settlement_racing_the_cancellation_of_the_same_call_bills_it_once(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    caller, budget = await budgeted_caller(factory, limit_micros=10**6, period="day")
    admitted = [await _admit(factory, caller) for _ in range(8)]
    for i, r in enumerate(admitted):
        await renew_lease(factory, reservation_id=r.id, completion_tokens_so_far=150)
        completed = _settle(factory, r, "completed")  # one statement on PostgreSQL
        cancelled = _settle(factory, r, "cancelled")  # the ordinary path, billing the 150
        first, second = await asyncio.gather(
            *((completed, cancelled) if i % 2 else (cancelled, completed))
        )
        assert first.id == second.id
    async with factory() as session:
        entries = list(await session.scalars(select(LedgerEntry)))
    assert sorted(e.reservation_id for e in entries) == sorted(r.id for r in admitted)
    costs = {"completed": COST, "cancelled": 1_000 + 150 * 30}
    assert all(e.cost_micros == costs[e.outcome] for e in entries)
    (counter,) = await counters_of(factory, budget.id)
    assert (counter.spent_micros, counter.reserved_micros) == (
        sum(e.cost_micros for e in entries),
        0,
    )
