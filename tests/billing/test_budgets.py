"""Budget views, changes, soft budgets and their alerts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from billing import alerts, budgets, ledger
from billing.admission import admit
from billing.errors import BudgetNotFound, InvalidBudget
from billing.schemas import BudgetCreate, BudgetRead, BudgetUpdate, UsageAlertRead
from core.database import write_transaction
from tests.billing.builders import (
    Factory,
    SimulatedClock,
    budgeted_caller,
    fake_model,
    make_budget,
)

pytestmark = pytest.mark.anyio

MODEL = fake_model()


async def test_a_budget_view_shows_the_current_period_and_when_it_resets(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    caller, budget = await budgeted_caller(
        factory,
        limit_micros=50_000,
        limit_tokens=10_000,
        period="week",
    )
    done = await admit(
        factory, caller=caller, model=MODEL, prompt_tokens=100, max_output_tokens=300, source="chat"
    )
    await admit(
        factory, caller=caller, model=MODEL, prompt_tokens=100, max_output_tokens=300, source="chat"
    )
    await ledger.settle(
        factory,
        reservation_id=done.id,
        outcome="completed",
        prompt_tokens=100,
        completion_tokens=100,
        estimated=False,
    )
    async with factory() as session:
        view = await budgets.status(session, budget=await budgets.get(session, budget_id=budget.id))
    body = BudgetRead.model_validate(view).model_dump(mode="json", by_alias=True)
    assert body["spentMicros"] == 4_000
    assert body["reservedMicros"] == 10_000
    assert body["remainingMicros"] == 36_000
    assert (body["spentTokens"], body["reservedTokens"], body["remainingTokens"]) == (
        200,
        400,
        9_400,
    )
    assert body["resetsAt"] == "2026-03-09T00:00:00Z"
    assert body["periodStart"] == "2026-03-02T00:00:00Z"


async def test_budgets_are_listed_changed_and_deleted(factory: Factory) -> None:
    budget = await make_budget(factory, scope="global", limit_tokens=100)
    async with write_transaction(factory) as session:
        found = await budgets.get(session, budget_id=budget.id)
        await budgets.update_budget(
            session, budget=found, data=BudgetUpdate(limit_micros=5, name="renamed")
        )
        with pytest.raises(InvalidBudget):
            await budgets.update_budget(
                session, budget=found, data=BudgetUpdate(limit_micros=None, limit_tokens=None)
            )
    async with write_transaction(factory) as session:
        (listed,) = await budgets.list_budgets(session, scope="global")
        assert (listed.name, listed.limit_micros, listed.limit_tokens) == ("renamed", 5, 100)
        await budgets.delete_budget(session, budget=listed)
    async with factory() as session:
        with pytest.raises(BudgetNotFound):
            await budgets.get(session, budget_id=budget.id)


def test_a_budget_needs_a_limit_and_a_scope_id_unless_global() -> None:
    with pytest.raises(ValidationError):
        BudgetCreate(name="x", scope="user", scope_id="u1")
    with pytest.raises(ValidationError):
        BudgetCreate(name="x", scope="team", limit_micros=1)
    with pytest.raises(ValidationError):
        BudgetCreate(name="x", scope="global", limit_micros=1, thresholds=[1.5])
    created = BudgetCreate.model_validate(
        {"name": "x", "scope": "apiToken", "scopeId": "t", "limitTokens": 5, "period": "day"}
    )
    assert created.scope_id == "t"


class _Webhook:
    """A loopback HTTP server that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.received = asyncio.Event()
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        self.bodies.append(json.loads(await reader.readexactly(length)))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()
        self.received.set()


@pytest.fixture
async def webhook() -> AsyncIterator[_Webhook]:
    hook = _Webhook()
    server = await asyncio.start_server(hook.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hook.url = f"http://127.0.0.1:{port}/alerts"
    async with server:
        yield hook


async def test_a_soft_budget_alerts_once_per_threshold_and_period_without_refusing(
    factory: Factory, sim_clock: SimulatedClock, webhook: _Webhook
) -> None:
    caller, budget = await budgeted_caller(
        factory,
        name="soft",
        limit_micros=20_000,
        period="day",
        hard=False,
        thresholds=[0.5],
    )
    for _ in range(5):
        r = await admit(
            factory,
            caller=caller,
            model=MODEL,
            prompt_tokens=100,
            max_output_tokens=300,
            source="chat",
        )
        await ledger.settle(
            factory,
            reservation_id=r.id,
            outcome="completed",
            prompt_tokens=100,
            completion_tokens=300,
            estimated=False,
        )
    async with factory() as session:
        stored, total = await alerts.list_alerts(session, budget_id=budget.id)
    assert total == 2
    assert sorted(a.threshold for a in stored) == [0.5, 1.0]
    assert await alerts.deliver_pending(factory, webhook_url=webhook.url) == 2
    await asyncio.wait_for(webhook.received.wait(), timeout=5)
    assert sorted(float(str(b["threshold"])) for b in webhook.bodies) == [0.5, 1.0]
    assert await alerts.deliver_pending(factory, webhook_url=webhook.url) == 0
    async with factory() as session:
        stored, _ = await alerts.list_alerts(session)
    read = UsageAlertRead.model_validate(stored[0]).model_dump(by_alias=True)
    assert read["deliveredAt"] is not None and read["budgetName"] == "soft"


async def test_an_unreachable_webhook_leaves_alerts_pending(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    caller, _ = await budgeted_caller(factory, limit_micros=1_000, hard=False)
    r = await admit(
        factory, caller=caller, model=MODEL, prompt_tokens=100, max_output_tokens=0, source="chat"
    )
    await ledger.settle(
        factory,
        reservation_id=r.id,
        outcome="completed",
        prompt_tokens=100,
        completion_tokens=0,
        estimated=False,
    )
    assert await alerts.deliver_pending(factory, webhook_url="http://127.0.0.1:9/none") == 0
    async with factory() as session:
        (alert,), _ = await alerts.list_alerts(session)
    assert alert.delivered_at is None and alert.attempts == 1
