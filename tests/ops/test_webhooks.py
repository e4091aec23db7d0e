"""Webhooks for job results and budget alerts: signed, retried with backoff, kept across restarts.

The receiver (tests/fakes/webhook_receiver.py) is a real HTTP server on loopback that answers 500
to the first attempts it is told to refuse, then 200.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from billing.models import UsageAlert
from core.models import WebhookDelivery
from tests.fakes.webhook_receiver import Attempt, Receiver, receiving, verify
from tests.support import AppHarness, Harnesses, eventually, fresh_database_url

pytestmark = pytest.mark.anyio
SECRET = "webhook-signing-secret"
FAST = {"webhook_secret": SECRET, "webhook_retry_seconds": 0.3, "webhook_poll_seconds": 0.05}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as hooks:
        yield hooks


def _verify(attempt: Attempt) -> dict[str, Any]:
    """Check the signature as a receiver would; returns the decoded body."""
    return verify(attempt, SECRET)


def _assert_retried_with_backoff(attempts: list[Attempt]) -> None:
    assert [a.status for a in attempts] == [500, 500, 200]
    assert len({a.headers["x-switchboard-delivery"] for a in attempts}) == 1  # one delivery
    first_gap, second_gap = (attempts[1].at - attempts[0].at, attempts[2].at - attempts[1].at)
    assert first_gap >= 0.3 and second_gap >= 0.6  # 0.3 s, then doubled


async def _delivery(harness: AppHarness, delivery_id: str) -> WebhookDelivery:
    async with harness.services.sessions() as session:
        row = await session.get(WebhookDelivery, delivery_id)
    assert row is not None
    return row


async def _delivered(harness: AppHarness, delivery_id: str) -> WebhookDelivery:
    """The delivery once it is no longer pending."""

    async def settled() -> WebhookDelivery | None:
        row = await _delivery(harness, delivery_id)
        return row if row.state != "pending" else None

    return await eventually(settled, seconds=5)


async def _run_a_job(harness: AppHarness) -> str:
    client, headers = harness.client, harness.admin.headers
    folder = await client.post("/api/library/folders", json={"name": "Empty"}, headers=headers)
    assert folder.status_code == 201, folder.text
    body = {"name": "Reindex", "type": "index-files", "params": {"folderId": folder.json()["id"]}}
    job = await client.post("/api/jobs", json=body, headers=headers)
    assert job.status_code == 201, job.text
    run = await client.post(f"/api/jobs/{job.json()['id']}/_run", headers=headers)
    assert run.status_code == 202, run.text
    return str(job.json()["id"])


async def test_a_job_result_is_posted_signed_and_retried_until_the_receiver_takes_it(
    make_harness: Harnesses, receiver: Receiver
) -> None:
    async with make_harness.running(job_webhook_url=receiver.url, **FAST) as app:
        job_id = await _run_a_job(app)
        attempts = await receiver.wait_for(3)
        body = _verify(attempts[2])
        assert (body["type"], body["jobId"], body["status"]) == ("job_run", job_id, "done")
        assert attempts[0].body == attempts[2].body  # the same bytes on every retry
        assert attempts[0].headers["x-switchboard-event"] == "job_run"
        _assert_retried_with_backoff(attempts)
        delivery_id = attempts[0].headers["x-switchboard-delivery"]
        row = await _delivered(app, delivery_id)
        assert (row.state, row.attempts, row.last_error) == ("delivered", 3, None)


async def test_a_budget_alert_is_posted_signed_and_retried_and_marked_delivered(
    make_harness: Harnesses, receiver: Receiver
) -> None:
    async with make_harness.running(alert_webhook_url=receiver.url, **FAST) as app:
        me = (await app.client.get("/api/me", headers=app.admin.headers)).json()["id"]
        budget = {"name": "Tiny", "scope": "user", "scopeId": me, "limitMicros": 1, "hard": False}
        made = await app.client.post("/api/usage-budgets", json=budget, headers=app.admin.headers)
        assert made.status_code == 201, made.text
        chat_id = await app.chat(app.admin)
        answered = await app.client.post(
            f"/api/chats/{chat_id}/messages", json={"content": "hi"}, headers=app.admin.headers
        )
        assert answered.status_code == 201, answered.text
        attempts = await receiver.wait_for(3)
        body = _verify(attempts[2])
        assert (body["type"], body["budgetName"], body["threshold"]) == ("usage_alert", "Tiny", 1.0)
        _assert_retried_with_backoff(attempts)

        async def delivered_alert() -> UsageAlert | None:
            async with app.services.sessions() as session:
                alert = (await session.scalars(select(UsageAlert))).one()
            return alert if alert.delivered_at is not None else None

        alert = await eventually(delivered_alert, seconds=5)
        assert alert.attempts == 3 and alert.id == body["id"]


async def test_retrying_carries_on_after_a_restart(
    make_harness: Harnesses, receiver: Receiver
) -> None:
    receiver.refuse = 1
    database = fresh_database_url()  # both runs on one database ("" is SQLite in tmp_path)
    settings: dict[str, Any] = {"job_webhook_url": receiver.url, "database_url": database, **FAST}
    settings["webhook_retry_seconds"] = 2.0  # the first retry falls after the restart
    async with make_harness.running(**settings) as first:
        await _run_a_job(first)
        (refused,) = await receiver.wait_for(1)
        row = await _delivery(first, refused.headers["x-switchboard-delivery"])
        assert (row.state, row.attempts) == ("pending", 1)
    async with make_harness.running(**settings) as second:
        attempts = await receiver.wait_for(2)
        assert [a.status for a in attempts] == [500, 200]
        assert attempts[1].headers["x-switchboard-delivery"] == row.id
        _verify(attempts[1])
        row = await _delivered(second, row.id)
        assert (row.state, row.attempts) == ("delivered", 2)
