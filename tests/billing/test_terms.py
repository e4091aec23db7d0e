"""A caller's terms kept between admissions (`billing.terms`), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from billing import budgets, profiles, ratelimits, seats
from billing.admission import Caller, admit
from billing.errors import BudgetExceeded, ModelNotAllowed, RateLimitExceeded, SeatRequired
from billing.schemas import (
    BudgetUpdate,
    RateLimitOverrideCreate,
    UsageProfileCreate,
    UsageProfileUpdate,
)
from core.database import async_url, create_engine, sessionmaker, write_transaction
from tests.billing.builders import Factory, fake_model, make_budget, seated_caller

pytestmark = pytest.mark.anyio

MODEL = fake_model()
WORST_CASE = 10_000  # 100 prompt tokens at $10/M plus 300 output tokens at $30/M, in micro-dollars


@pytest.fixture
async def other_worker(factory: Factory, database_url: str) -> AsyncIterator[Factory]:
    """A second engine on the same database, as another worker or host has."""
    engine = create_engine(async_url(database_url))
    try:
        yield sessionmaker(engine)
    finally:
        await engine.dispose()


async def _admit(factory: Factory, caller: Caller) -> None:
    await admit(
        factory, caller=caller, model=MODEL, prompt_tokens=100, max_output_tokens=300, source="v1"
    )


async def test_an_admins_change_through_another_worker_applies_to_the_very_next_admission(
    factory: Factory, other_worker: Factory
) -> None:
    caller = await seated_caller(factory)
    await _admit(factory, caller)  # the caller's terms are kept from here
    budget = await make_budget(
        other_worker, scope="user", scope_id=caller.user_id, limit_micros=100_000, period="month"
    )
    await _admit(factory, caller)
    async with write_transaction(other_worker) as session:
        found = await budgets.get(session, budget_id=budget.id)
        await budgets.update_budget(session, budget=found, data=BudgetUpdate(limit_micros=15_000))
    with pytest.raises(BudgetExceeded):  # 10,000 held by the call before: no room for another
        await _admit(factory, caller)

    async with write_transaction(other_worker) as session:
        await budgets.delete_budget(session, budget=await budgets.get(session, budget_id=budget.id))
        scope = {"scope": "user", "scope_id": caller.user_id}
        profile = await profiles.create(
            session, data=UsageProfileCreate(name="none", allowed_models=[], **scope)
        )
    with pytest.raises(ModelNotAllowed):
        await _admit(factory, caller)
    async with write_transaction(other_worker) as session:
        profile = await profiles.get(session, profile_id=profile.id)
        update = UsageProfileUpdate(allowed_models=[MODEL.name])
        await profiles.update(session, profile=profile, data=update)
    await _admit(factory, caller)

    async with write_transaction(other_worker) as session:
        limit = RateLimitOverrideCreate(requests_per_minute=1, **scope)
        await ratelimits.create_override(session, data=limit)
    await _admit(factory, caller)  # the first call counted in the user's window
    with pytest.raises(RateLimitExceeded):
        await _admit(factory, caller)

    (team_id,) = caller.team_ids
    await seats.unassign(other_worker, team_id=team_id, user_id=caller.user_id)
    with pytest.raises(SeatRequired):
        await _admit(factory, caller)
