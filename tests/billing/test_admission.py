"""Admission and settlement against budgets, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from billing import ledger, profiles, seats
from billing.admission import Caller, admit
from billing.errors import (
    BudgetExceeded,
    ModelNotAllowed,
    PriceUnknown,
    SeatRequired,
)
from billing.models import Reservation
from billing.schemas import UsageProfileCreate
from core.database import write_transaction
from tests.billing.builders import (
    Factory,
    SimulatedClock,
    budgeted_caller,
    counters_of,
    fake_model,
    keep_terms,
    make_budget,
    make_team,
    make_user,
    one_statement_results,
    seated_caller,
    unpriced_model,
)

pytestmark = pytest.mark.anyio

MODEL = fake_model()
WORST_CASE = 10_000  # 100 prompt tokens at $10/M plus 300 output tokens at $30/M, in micro-dollars


@pytest.mark.parametrize(
    ("kept", "rounds"),
    [pytest.param(False, 20, id="ordinary path"), pytest.param(True, 5, id="one statement")],
)
async def test_fifty_parallel_admissions_admit_exactly_ten_under_a_ten_cent_budget(
    factory: Factory, monkeypatch: pytest.MonkeyPatch, kept: bool, rounds: int
) -> None:
    """A new caller's racing calls all take the ordinary path (nothing is kept for them yet);
    once their terms are kept and the period's counter is made, each is one statement on
    PostgreSQL (`billing.one_trip`), and those it refuses go on to the ordinary path, which
    refuses them too."""
    in_one_statement = one_statement_results(monkeypatch, "reserve_held")
    for _ in range(rounds):
        caller, budget = await budgeted_caller(factory, limit_micros=100_000, period="month")
        if kept:
            await keep_terms(factory, caller, MODEL)

        async def one(caller: Caller = caller) -> str | None:
            try:
                r = await admit(
                    factory,
                    caller=caller,
                    model=MODEL,
                    prompt_tokens=100,
                    max_output_tokens=300,
                    source="chat",
                )
            except BudgetExceeded:
                return None
            return r.id

        results = await asyncio.gather(*(one() for _ in range(50)))
        admitted = [r for r in results if r is not None]
        assert len(admitted) == 10
        assert results.count(None) == 40
        await asyncio.gather(
            *(
                ledger.settle(
                    factory,
                    reservation_id=r,
                    outcome="completed",
                    prompt_tokens=100,
                    completion_tokens=300,
                    estimated=False,
                )
                for r in admitted
            )
        )
        (counter,) = await counters_of(factory, budget.id)
        assert (counter.spent_micros, counter.reserved_micros) == (100_000, 0)
    if factory.kw["bind"].dialect.name == "postgresql":
        admitted_in_one = [held for held in in_one_statement if held is not None]
        assert len(admitted_in_one) == (10 * rounds if kept else 0)


async def test_refusal_names_the_budget_and_when_it_resets(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    caller, budget = await budgeted_caller(
        factory,
        name="Monthly cap",
        scope="team",
        limit_micros=15_000,
        period="month",
    )
    await admit(
        factory, caller=caller, model=MODEL, prompt_tokens=100, max_output_tokens=300, source="chat"
    )
    with pytest.raises(BudgetExceeded) as refused:
        await admit(
            factory,
            caller=caller,
            model=MODEL,
            prompt_tokens=100,
            max_output_tokens=300,
            source="chat",
        )
    details = refused.value.details
    assert details["budget"] == {
        "id": budget.id,
        "name": "Monthly cap",
        "scope": "team",
        "scopeId": caller.team_ids[0],
    }
    assert (details["limitMicros"], details["spentMicros"], details["reservedMicros"]) == (
        15_000,
        0,
        WORST_CASE,
    )
    assert details["resetsAt"] == "2026-04-01T00:00:00+00:00"
    assert refused.value.code == "budget_exceeded"


async def test_every_applicable_budget_is_enforced_and_a_refusal_holds_nothing(
    factory: Factory,
) -> None:
    caller, roomy = await budgeted_caller(factory, limit_micros=1_000_000)
    await make_budget(factory, name="tokens", scope="global", limit_tokens=500, period="day")
    await admit(
        factory, caller=caller, model=MODEL, prompt_tokens=100, max_output_tokens=300, source="chat"
    )
    with pytest.raises(BudgetExceeded) as refused:
        await admit(
            factory,
            caller=caller,
            model=MODEL,
            prompt_tokens=100,
            max_output_tokens=300,
            source="chat",
        )
    assert refused.value.details["budget"]["name"] == "tokens"
    (counter,) = await counters_of(factory, roomy.id)
    assert counter.reserved_micros == WORST_CASE


async def test_a_member_without_a_seat_is_refused_before_anything_is_reserved(
    factory: Factory,
) -> None:
    team = await make_team(factory)
    user_id = await make_user(factory, team_ids=(team,))

    with pytest.raises(SeatRequired):
        await admit(
            factory,
            caller=Caller(user_id=user_id, team_ids=(team,)),
            model=MODEL,
            prompt_tokens=1,
            max_output_tokens=1,
            source="chat",
        )
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(Reservation)) == 0


async def test_unassigning_a_seat_mid_request_lets_it_settle_but_refuses_the_next(
    factory: Factory,
) -> None:
    caller = await seated_caller(factory)
    running = await admit(
        factory, caller=caller, model=MODEL, prompt_tokens=10, max_output_tokens=10, source="chat"
    )
    await seats.unassign(factory, team_id=caller.team_ids[0], user_id=caller.user_id)
    entry = await ledger.settle(
        factory,
        reservation_id=running.id,
        outcome="completed",
        prompt_tokens=10,
        completion_tokens=5,
        estimated=False,
    )
    assert entry.outcome == "completed"
    with pytest.raises(SeatRequired):
        await admit(
            factory,
            caller=caller,
            model=MODEL,
            prompt_tokens=10,
            max_output_tokens=10,
            source="chat",
        )


async def test_a_model_outside_the_usage_profile_is_refused(factory: Factory) -> None:
    caller = await seated_caller(factory)
    async with write_transaction(factory) as session:
        await profiles.create(
            session,
            data=UsageProfileCreate(
                name="cheap only",
                scope="team",
                scope_id=caller.team_ids[0],
                allowed_models=["cheap-model"],
            ),
        )
    with pytest.raises(ModelNotAllowed):
        await admit(
            factory, caller=caller, model=MODEL, prompt_tokens=1, max_output_tokens=1, source="chat"
        )
    cheap = fake_model("cheap-model")
    await admit(
        factory, caller=caller, model=cheap, prompt_tokens=1, max_output_tokens=1, source="chat"
    )


async def test_a_profile_monthly_cap_is_enforced_like_a_budget(factory: Factory) -> None:
    caller = await seated_caller(factory)
    async with write_transaction(factory) as session:
        await profiles.create(
            session,
            data=UsageProfileCreate(
                name="capped",
                scope="user",
                scope_id=caller.user_id,
                monthly_cap_micros=WORST_CASE,
            ),
        )
    await admit(
        factory, caller=caller, model=MODEL, prompt_tokens=100, max_output_tokens=300, source="chat"
    )
    with pytest.raises(BudgetExceeded) as refused:
        await admit(
            factory,
            caller=caller,
            model=MODEL,
            prompt_tokens=100,
            max_output_tokens=300,
            source="chat",
        )
    assert refused.value.details["budget"]["name"] == "capped (monthly cap)"


async def test_an_unpriced_model_is_refused_under_a_money_budget_not_treated_as_free(
    factory: Factory,
) -> None:
    caller = await seated_caller(factory)
    await admit(
        factory,
        caller=caller,
        model=unpriced_model(),
        prompt_tokens=5,
        max_output_tokens=5,
        source="chat",
    )
    await make_budget(factory, scope="user", scope_id=caller.user_id, limit_micros=1_000_000)
    with pytest.raises(PriceUnknown):
        await admit(
            factory,
            caller=caller,
            model=unpriced_model(),
            prompt_tokens=5,
            max_output_tokens=5,
            source="chat",
        )
