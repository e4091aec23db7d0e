"""Webhooks for job results and budget alerts: signed, retried with backoff, kept across restarts.

The receiver is a real HTTP server on loopback that answers 500 to the first attempts it is told
to refuse, then 200; it records each attempt's headers, raw body and arrival time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from billing.models import UsageAlert
from core.models import WebhookDelivery
from tests.support import AppHarness, Harnesses, eventually, fresh_database_url
from tests.toolkits.servers import serve

pytestmark = pytest.mark.anyio
SECRET = "webhook-signing-secret"
FAST = {"webhook_secret": SECRET, "webhook_retry_seconds": 0.3, "webhook_poll_seconds": 0.05}


@dataclass
class Attempt:
    """One POST the receiver saw."""

    headers: dict[str, str]
    body: bytes
    at: float
    status: int


@dataclass
class Receiver:
    """A loopback webhook receiver that refuses the first `refuse` attempts."""

    refuse: int = 2
    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            body = await request.body()
            with self.lock:
                status = 500 if len(self.attempts) < self.refuse else 200
                self.attempts.append(Attempt(dict(request.headers), body, time.monotonic(), status))
            return JSONResponse({"ok": status == 200}, status_code=status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    async def wait_for(self, count: int, seconds: float = 15) -> list[Attempt]:
        """The first `count` attempts, once they have arrived."""

        def arrived() -> list[Attempt]:
            with self.lock:
                return list(self.attempts[:count]) if len(self.attempts) >= count else []

        return await eventually(arrived, seconds=seconds)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    with serve(hooks.app()) as port:
        hooks.url = f"http://127.0.0.1:{port}/hook"
        yield hooks


def _verify(attempt: Attempt) -> dict[str, Any]:
    """Check the signature as a receiver would; returns the decoded body."""
    timestamp = attempt.headers["x-switchboard-timestamp"]
    assert abs(time.time() - int(timestamp)) < 60
    signed = timestamp.encode() + b"." + attempt.body
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(attempt.headers["x-switchboard-signature"], expected)
    body: dict[str, Any] = json.loads(attempt.body)
    return body


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
