"""Usage reports from the ledger."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from billing import ledger, usage
from billing.admission import Caller, admit
from billing.schemas import UsageQuery
from tests.billing.builders import Factory, SimulatedClock, fake_model, seated_caller

pytestmark = pytest.mark.anyio


async def _call(factory: Factory, caller: Caller, model: str, source: str, tokens: int) -> None:
    r = await admit(
        factory,
        caller=caller,
        model=fake_model(model),
        prompt_tokens=tokens,
        max_output_tokens=tokens,
        source=source,
    )
    await ledger.settle(
        factory,
        reservation_id=r.id,
        outcome="completed",
        prompt_tokens=tokens,
        completion_tokens=tokens,
        estimated=False,
    )


async def test_usage_is_grouped_filtered_and_members_see_only_their_own(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    alice = await seated_caller(factory)
    bob = await seated_caller(factory, team_id=alice.team_ids[0])
    sim_clock.set(datetime(2026, 3, 4, 9, tzinfo=UTC))
    await _call(factory, alice, "m1", "chat", 100)
    await _call(factory, replace(alice, api_token_id="tok1"), "m2", "v1", 100)
    sim_clock.set(datetime(2026, 3, 5, 9, tzinfo=UTC))
    await _call(factory, bob, "m1", "chat", 1_000)

    async with factory() as session:
        by_model = await usage.report(
            session,
            query=UsageQuery(group_by=["model"]),
            viewer_id=alice.user_id,
            viewer_is_admin=True,
        )
        by_day = await usage.report(
            session,
            query=UsageQuery(group_by=["day", "user"], model="m1"),
            viewer_id=alice.user_id,
            viewer_is_admin=True,
        )
        mine = await usage.report(
            session,
            query=UsageQuery(user_id=bob.user_id),
            viewer_id=alice.user_id,
            viewer_is_admin=False,
        )
        window = await usage.report(
            session,
            query=UsageQuery.model_validate(
                {"from": "2026-03-05T00:00:00Z", "groupBy": ["source"]}
            ),
            viewer_id=alice.user_id,
            viewer_is_admin=True,
        )
    assert [(r.group["model"], r.requests, r.total_tokens) for r in by_model] == [
        ("m1", 2, 2_200),
        ("m2", 1, 200),
    ]
    assert [r.group for r in by_day] == [
        {"day": "2026-03-04", "user": alice.user_id},
        {"day": "2026-03-05", "user": bob.user_id},
    ]
    assert [(r.requests, r.cost_micros) for r in mine] == [(2, 2 * (1_000 + 3_000))]
    assert [(r.group["source"], r.requests) for r in window] == [("chat", 1)]
    csv_text = usage.to_csv(by_model, ["model"])
    assert csv_text.splitlines() == [
        "model,requests,promptTokens,completionTokens,totalTokens,costMicros",
        "m1,2,1100,1100,2200,44000",
        "m2,1,100,100,200,4000",
    ]
