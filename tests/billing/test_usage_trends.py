"""Usage trends in the database: months summed by GROUP BY, top consumers ranked by cost."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from billing import ledger, usage, usage_trends
from billing.admission import Caller, admit
from billing.schemas import UsageQuery
from core.errors import InvalidInput
from tests.billing.builders import Factory, SimulatedClock, fake_model, seated_caller

pytestmark = pytest.mark.anyio


async def _call(factory: Factory, caller: Caller, tokens: int) -> None:
    r = await admit(
        factory,
        caller=caller,
        model=fake_model("m1"),
        prompt_tokens=tokens,
        max_output_tokens=tokens,
        source="v1",
    )
    await ledger.settle(
        factory,
        reservation_id=r.id,
        outcome="completed",
        prompt_tokens=tokens,
        completion_tokens=tokens,
        estimated=False,
    )


async def test_months_are_grouped_in_utc_at_their_edges(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    alice = await seated_caller(factory)
    for moment in (
        datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 2, 28, 23, 0, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    ):
        sim_clock.set(moment)
        await _call(factory, alice, 100)
    start, end = usage_trends.month_range("2026-01", "2026-03", now=sim_clock.now())
    async with factory() as session:
        rows = await usage.report(
            session,
            query=UsageQuery(start=start, end=end, group_by=["month", "team", "model"]),
            viewer_id=alice.user_id,
            viewer_is_admin=True,
        )
    assert [(r.group["month"], r.group["team"], r.requests) for r in rows] == [
        ("2026-01", alice.team_ids[0], 1),
        ("2026-02", alice.team_ids[0], 2),
    ]


async def test_top_consumers_rank_by_cost_within_the_window_and_leave_out_missing_ids(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    alice = await seated_caller(factory)
    bob = await seated_caller(factory, team_id=alice.team_ids[0])
    sim_clock.set(datetime(2026, 3, 4, 9, tzinfo=UTC))
    await _call(factory, alice, 100)
    await _call(factory, alice, 100)
    await _call(factory, replace(bob, api_token_id="tok1"), 1_000)
    sim_clock.set(datetime(2026, 3, 5, 9, tzinfo=UTC))
    await _call(factory, alice, 5_000)  # the next day: outside the window
    start, end = usage_trends.period_window("day", datetime(2026, 3, 4, 12, tzinfo=UTC))
    async with factory() as session:
        top = await usage_trends.top_consumers(session, start=start, end=end, limit=5)
        first = await usage_trends.top_consumers(session, start=start, end=end, limit=1)
    assert [(c.id, c.requests, c.total_tokens) for c in top["users"]] == [
        (bob.user_id, 1, 2_000),
        (alice.user_id, 2, 400),
    ]
    assert [(c.id, c.requests) for c in top["teams"]] == [(alice.team_ids[0], 3)]
    assert [c.id for c in top["apiTokens"]] == ["tok1"] and top["assistants"] == []
    assert [c.id for c in first["users"]] == [bob.user_id]


def test_month_ranges_default_to_a_year_and_refuse_bad_months() -> None:
    now = datetime(2026, 2, 10, tzinfo=UTC)
    assert usage_trends.month_range(None, None, now=now) == (
        datetime(2025, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert usage_trends.month_range("2025-12", "2025-12", now=now) == (
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    for first, last in (("2026-00", None), ("26-01", None), ("2026-03", "2026-02")):
        with pytest.raises(InvalidInput):
            usage_trends.month_range(first, last, now=now)
