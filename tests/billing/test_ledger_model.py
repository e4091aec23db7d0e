"""The real ledger against a simple model, driven by a Hypothesis state machine.

Steps: admit, settle (completed / failed / cancelled), report delivery, crash (lease expiry), period
reset and limit change. After every step the database must agree with the model exactly, no hard
budget may hold more than its limit, nothing reserved may go negative, and every closed request
must have exactly one terminal ledger row. On PostgreSQL admissions and settlements are sent as
a `/v1` call sends them, so they take one statement each where they can (`billing.one_trip`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from billing import budgets, ledger, periods
from billing.admission import LEASE_SECONDS, Caller, admit, renew_lease
from billing.errors import BudgetExceeded
from billing.models import BudgetCounter, LedgerEntry, Reservation
from billing.schemas import BudgetUpdate
from core import clock
from core.catalog import Price
from core.database import async_url, create_engine, sessionmaker, write_transaction
from tests.billing.builders import (
    Factory,
    SimulatedClock,
    empty_but_the_epoch,
    fake_model,
    make_budget,
    seated_caller,
)

T = TypeVar("T")
MODEL = fake_model()
_PRICE = MODEL.price
assert _PRICE is not None
PRICE: Price = _PRICE


@dataclass
class Open:
    admitted: Reservation
    prompt: int
    max_out: int
    period: datetime
    delivered: int = 0


@dataclass
class Period:
    spent: int = 0
    reserved: int = 0


@dataclass
class Env:
    runner: asyncio.Runner
    factory: Factory
    clock: SimulatedClock
    steps: int = 0
    admitted: int = 0
    refused: int = 0
    log: list[str] = field(default_factory=list)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)


class LedgerMachine(RuleBasedStateMachine):
    env: ClassVar[Env]

    def __init__(self) -> None:
        super().__init__()
        env = self.env
        self.caller: Caller = env.run(seated_caller(env.factory))
        self.limit = 30_000
        self.max_limit = self.limit
        budget = env.run(
            make_budget(
                env.factory,
                scope="user",
                scope_id=self.caller.user_id,
                limit_micros=self.limit,
                period="day",
            )
        )
        self.budget_id = budget.id
        self.open: dict[str, Open] = {}
        self.closed: set[str] = set()
        self.periods: dict[datetime, Period] = {}

    def teardown(self) -> None:
        for rid, held in self.open.items():
            self.env.run(
                ledger.settle(
                    self.env.factory,
                    reservation_id=rid,
                    outcome="failed",
                    prompt_tokens=0,
                    completion_tokens=0,
                    estimated=False,
                    admitted=held.admitted,
                )
            )

    def _period(self) -> datetime:
        return periods.start_of("day", self.env.clock.now())

    @rule(prompt=st.integers(0, 400), max_out=st.integers(0, 800))
    def admit(self, prompt: int, max_out: int) -> None:
        self.env.steps += 1
        worst = PRICE.cost_micros(prompt, max_out)
        model = self.periods.setdefault(self._period(), Period())
        fits = model.spent + model.reserved + worst <= self.limit
        try:
            r = self.env.run(
                admit(
                    self.env.factory,
                    caller=self.caller,
                    model=MODEL,
                    prompt_tokens=prompt,
                    max_output_tokens=max_out,
                    source="chat",
                )
            )
        except BudgetExceeded:
            assert not fits, "refused a request that fits"
            self.env.refused += 1
            return
        self.env.admitted += 1
        model.reserved += worst
        self.open[r.id] = Open(r, prompt, max_out, self._period())
        assert fits, "admitted a request that does not fit"

    def _close(self, reservation_id: str, prompt: int, completion: int) -> int:
        held = self.open.pop(reservation_id)
        model = self.periods[held.period]
        cost = PRICE.cost_micros(prompt, completion)
        model.reserved -= PRICE.cost_micros(held.prompt, held.max_out)
        model.spent += cost
        self.closed.add(reservation_id)
        return cost

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data(), outcome=st.sampled_from(["completed", "failed", "cancelled"]))
    def settle(self, data: st.DataObject, outcome: str) -> None:
        self.env.steps += 1
        rid = data.draw(st.sampled_from(sorted(self.open)))
        held = self.open[rid]
        prompt = data.draw(st.integers(0, held.prompt))
        completion = data.draw(st.integers(0, held.max_out))
        billed = max(completion, held.delivered) if outcome == "cancelled" else completion
        entry = self.env.run(
            ledger.settle(
                self.env.factory,
                reservation_id=rid,
                outcome=outcome,  # type: ignore[arg-type]
                prompt_tokens=prompt,
                completion_tokens=completion,
                estimated=False,
                admitted=held.admitted,  # on PostgreSQL, one statement unless cancelled
            )
        )
        cost = self._close(rid, prompt, billed)
        assert (entry.outcome, entry.cost_micros, entry.completion_tokens) == (
            outcome,
            cost,
            billed,
        )

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data())
    def report_delivery(self, data: st.DataObject) -> None:
        self.env.steps += 1
        rid = data.draw(st.sampled_from(sorted(self.open)))
        held = self.open[rid]
        delivered = data.draw(st.integers(held.delivered, held.max_out))
        self.env.run(
            renew_lease(self.env.factory, reservation_id=rid, completion_tokens_so_far=delivered)
        )
        held.delivered = delivered

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data())
    def crash(self, data: st.DataObject) -> None:
        """A worker dies: its lease runs out while the others keep renewing theirs."""
        self.env.steps += 1
        rid = data.draw(st.sampled_from(sorted(self.open)))
        self.env.clock.advance(LEASE_SECONDS + 1)
        for other, held in self.open.items():
            if other != rid:
                self.env.run(
                    renew_lease(
                        self.env.factory,
                        reservation_id=other,
                        completion_tokens_so_far=held.delivered,
                    )
                )
        assert self.env.run(ledger.release_expired(self.env.factory)) == 1
        held = self.open[rid]
        self._close(rid, held.prompt, held.delivered)

    @rule(seconds=st.integers(0, 3 * 3600))
    def next_period(self, seconds: int) -> None:
        self.env.steps += 1
        now = self.env.clock.now()
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        self.env.clock.set(midnight + timedelta(seconds=seconds))
        for rid, held in self.open.items():  # live streams keep renewing across the boundary
            self.env.run(
                renew_lease(
                    self.env.factory, reservation_id=rid, completion_tokens_so_far=held.delivered
                )
            )

    @rule(limit=st.integers(0, 60_000))
    def change_limit(self, limit: int) -> None:
        self.env.steps += 1

        async def change() -> None:
            async with write_transaction(self.env.factory) as session:
                budget = await budgets.get(session, budget_id=self.budget_id)
                await budgets.update_budget(
                    session, budget=budget, data=BudgetUpdate(limit_micros=limit)
                )

        self.env.run(change())
        self.limit = limit
        self.max_limit = max(self.max_limit, limit)

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        counters, entries = self.env.run(self._read())
        actual = {
            clock.as_utc(c.period_start): (c.spent_micros, c.reserved_micros) for c in counters
        }
        expected = {
            p: (m.spent, m.reserved) for p, m in self.periods.items() if m.spent or m.reserved
        }
        assert {p: v for p, v in actual.items() if v != (0, 0)} == expected
        for spent, reserved in actual.values():
            assert reserved >= 0
            assert spent + reserved <= self.max_limit
        assert sorted(entries) == sorted(self.closed)

    async def _read(self) -> tuple[list[BudgetCounter], list[str]]:
        async with self.env.factory() as session:
            counters = list(
                await session.scalars(
                    select(BudgetCounter).where(BudgetCounter.budget_id == self.budget_id)
                )
            )
            entries = list(
                await session.scalars(
                    select(LedgerEntry.reservation_id).where(
                        LedgerEntry.user_id == self.caller.user_id
                    )
                )
            )
            assert await session.scalar(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.user_id == self.caller.user_id)
            ) == len(set(entries))
        return counters, entries


def _run_machine(url: str, examples: int, steps: int, at_least: int = 0) -> Env:
    """Run `examples` examples of at most `steps` steps each, and more such runs until
    `at_least` steps have run in all: Hypothesis makes some examples shorter (in ~4% of runs of
    25 x 100 steps, fewer than 2,000 steps in all)."""
    simulated = SimulatedClock(datetime(2026, 3, 4, 22, 0, tzinfo=UTC))
    clock.install(simulated.now)
    try:
        with asyncio.Runner() as runner:
            engine = create_engine(async_url(url))
            env = Env(runner, sessionmaker(engine), simulated)
            if engine.dialect.name == "postgresql":
                runner.run(empty_but_the_epoch(env.factory))
            LedgerMachine.env = env
            try:
                while True:
                    run_state_machine_as_test(
                        LedgerMachine,
                        settings=settings(
                            max_examples=examples,
                            stateful_step_count=steps,
                            deadline=None,
                            database=None,
                            suppress_health_check=list(HealthCheck),
                        ),
                    )
                    if env.steps >= at_least:
                        break
            finally:
                runner.run(engine.dispose())
    finally:
        clock.install(None)
    return env


def test_the_ledger_matches_a_simple_model_on_sqlite(sqlite_url: str) -> None:
    env = _run_machine(sqlite_url, examples=10, steps=50)
    assert env.admitted > 0 and env.refused > 0


@pytest.mark.postgres
def test_the_ledger_matches_a_simple_model_for_two_thousand_steps_on_postgres(
    postgres_url: str,
) -> None:
    env = _run_machine(postgres_url, examples=25, steps=100, at_least=2_000)
    print(f"steps={env.steps} admitted={env.admitted} refused={env.refused}")
    assert env.steps >= 2_000
    assert env.admitted > 0 and env.refused > 0
