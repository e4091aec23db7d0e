"""Plain functions that build billing test data through the services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import budgets, ledger, one_trip, seats
from billing.admission import Caller, admit
from billing.models import Budget, BudgetCounter
from billing.ratelimits import NO_LIMITS, RateLimits
from billing.schemas import BudgetCreate, SubscriptionUpdate
from core.catalog import CatalogModel, Price
from core.database import write_transaction
from core.ids import new_id
from core.models import Team, TeamMembership, User
from tests.postgres import empty_database

Factory = async_sessionmaker[AsyncSession]


@dataclass
class SimulatedClock:
    """A clock that moves only when told to."""

    current: datetime

    def now(self) -> datetime:
        """The simulated current time."""
        return self.current

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.current += timedelta(seconds=seconds)

    def set(self, at: datetime) -> None:
        """Jump to a moment."""
        self.current = at


async def empty_but_the_epoch(factory: Factory) -> None:
    """Empty a PostgreSQL test database but for the identity epoch's row, which the migration
    makes and every deployment has (without it nothing is kept and no call takes one statement:
    `billing.terms`, `billing.one_trip`)."""
    await empty_database(factory)
    async with write_transaction(factory) as session:
        await session.execute(text("INSERT INTO core_auth_epoch (id, epoch) VALUES (1, 0)"))


def fake_model(
    name: str = "fake-gpt", input_per_million: float = 10.0, output_per_million: float = 30.0
) -> CatalogModel:
    """A catalog model priced per million tokens, like the issue's fake upstream."""
    return CatalogModel(
        name=name,
        description="fake",
        deployments=(),
        price=Price(input_per_million / 1_000_000, output_per_million / 1_000_000),
        max_input_tokens=8192,
        max_output_tokens=4096,
    )


def unpriced_model() -> CatalogModel:
    """A catalog model nobody put a price on."""
    return CatalogModel(
        name="local-llama",
        description="",
        deployments=(),
        price=None,
        max_input_tokens=8192,
        max_output_tokens=4096,
    )


async def make_team(factory: Factory, *, seats_count: int | None = 10) -> str:
    """A team, with a subscription of `seats_count` seats unless None."""
    async with write_transaction(factory) as session:
        team = Team(name="team-" + new_id())
        session.add(team)
        await session.flush()
        team_id = team.id
    if seats_count is not None:
        await seats.set_subscription(
            factory, team_id=team_id, data=SubscriptionUpdate(seats=seats_count)
        )
    return team_id


async def make_user(
    factory: Factory, *, team_ids: tuple[str, ...] = (), role: str = "member"
) -> str:
    """A user, member of the given teams."""
    async with write_transaction(factory) as session:
        user = User(username="user-" + new_id(), password_hash="x", role=role)
        session.add(user)
        await session.flush()
        for team_id in team_ids:
            session.add(TeamMembership(team_id=team_id, user_id=user.id))
        return user.id


async def seated_caller(factory: Factory, *, team_id: str | None = None) -> Caller:
    """A member of a team (a new one unless given) holding one of its seats."""
    team = team_id or await make_team(factory)
    user_id = await make_user(factory, team_ids=(team,))
    await seats.assign(factory, team_id=team, user_id=user_id)
    return Caller(user_id=user_id, team_ids=(team,))


async def make_budget(factory: Factory, **fields: object) -> Budget:
    """A budget from BudgetCreate fields (name defaults to "test budget")."""
    fields.setdefault("name", "test budget")
    async with write_transaction(factory) as session:
        return await budgets.create(session, data=BudgetCreate.model_validate(fields))


async def budgeted_caller(factory: Factory, **budget: object) -> tuple[Caller, Budget]:
    """A seated caller and a budget over them, from BudgetCreate fields: on the caller's own
    user unless `scope` says otherwise (a "team" budget is on the caller's team)."""
    caller = await seated_caller(factory)
    scope = budget.setdefault("scope", "user")
    if scope == "user":
        budget.setdefault("scope_id", caller.user_id)
    elif scope == "team":
        budget.setdefault("scope_id", caller.team_ids[0])
    return caller, await make_budget(factory, **budget)


async def keep_terms(
    factory: Factory, caller: Caller, model: CatalogModel, limits: RateLimits = NO_LIMITS
) -> None:
    """Admit and settle a free call (no tokens) of `caller`: their terms are kept from here (for
    `billing.terms.TTL_SECONDS`) and their budgets' counters and rate buckets made, so that on
    PostgreSQL their next calls can be admitted in one statement (`billing.one_trip`)."""
    warm = await admit(
        factory,
        caller=caller,
        model=model,
        prompt_tokens=0,
        max_output_tokens=0,
        source="v1",
        limits=limits,
    )
    await ledger.settle(
        factory,
        reservation_id=warm.id,
        outcome="completed",
        prompt_tokens=0,
        completion_tokens=0,
        estimated=False,
        admitted=warm,
    )


def one_statement_results(monkeypatch: pytest.MonkeyPatch, name: str) -> list[Any]:
    """What each call of `billing.one_trip.<name>` returns from here on, in a list the test reads
    (None: it wrote nothing and the ordinary path decided)."""
    results: list[Any] = []
    original = getattr(one_trip, name)

    async def recorded(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        results.append(result)
        return result

    monkeypatch.setattr(one_trip, name, recorded)
    return results


async def counters_of(factory: Factory, budget_id: str) -> list[BudgetCounter]:
    """Every period counter of a budget, oldest period first."""
    async with factory() as session:
        rows = await session.scalars(
            select(BudgetCounter)
            .where(BudgetCounter.budget_id == budget_id)
            .order_by(BudgetCounter.period_start)
        )
        return list(rows)
