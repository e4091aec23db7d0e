"""Each webhook event is emitted once by its real trigger, through the API that causes it: a user
created and deactivated, a seat assigned and removed, a job run ending, a budget alert. Only
active webhooks subscribed to an event get it, each signed with its own secret."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.billing_builders import admin_team, seated_member
from tests.fakes.webhook_receiver import Receiver, receiving, verify
from tests.support import AppHarness, Harnesses, eventually

pytestmark = pytest.mark.anyio
SECRET = "every-event-secret"
EVENTS = [
    "usage_alert",
    "job_run",
    "user_created",
    "user_deactivated",
    "seat_assigned",
    "seat_removed",
]
SETTINGS = {"webhook_allowed_hosts": ["127.0.0.1"], "webhook_poll_seconds": 0.05}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving(refuse=0) as hooks:
        yield hooks


async def _webhook(app: AppHarness, url: str, events: list[str], active: bool = True) -> str:
    body = {"url": url, "events": events, "secret": SECRET, "active": active}
    made = await app.client.post("/api/webhooks", json=body, headers=app.admin.headers)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def _deliveries(app: AppHarness, webhook_id: str) -> list[dict[str, Any]]:
    listed = await app.client.get(
        f"/api/webhooks/{webhook_id}/deliveries", headers=app.admin.headers
    )
    assert listed.status_code == 200, listed.text
    rows: list[dict[str, Any]] = listed.json()["_embedded"]["deliveries"]
    return rows


async def _users_and_seats(app: AppHarness) -> str:
    """user_created twice (one by the API, one by the seat helper), user_deactivated once (a
    second deactivation is no event), seat_assigned and seat_removed once; returns the user id."""
    client, headers = app.client, app.admin.headers
    body = {"username": "ursula", "password": "correct horse battery staple"}
    made = await client.post("/api/users", json=body, headers=headers)
    assert made.status_code == 201, made.text
    user_id = made.json()["id"]
    for _ in range(2):
        off = await client.patch(f"/api/users/{user_id}", json={"active": False}, headers=headers)
        assert off.status_code == 200, off.text
    seated = await seated_member(app, "sid")
    team_id = await admin_team(app)
    removed = await client.delete(f"/api/teams/{team_id}/seats/{seated.id}", headers=headers)
    assert removed.status_code == 204, removed.text
    return str(user_id)


async def _job_run(app: AppHarness) -> str:
    client, headers = app.client, app.admin.headers
    folder = await client.post("/api/library/folders", json={"name": "Empty"}, headers=headers)
    assert folder.status_code == 201, folder.text
    body = {"name": "Reindex", "type": "index-files", "params": {"folderId": folder.json()["id"]}}
    job = await client.post("/api/jobs", json=body, headers=headers)
    assert job.status_code == 201, job.text
    run = await client.post(f"/api/jobs/{job.json()['id']}/_run", headers=headers)
    assert run.status_code == 202, run.text
    return str(job.json()["id"])


async def _budget_alert(app: AppHarness) -> None:
    budget = {"name": "Tiny", "scope": "user", "scopeId": app.admin.id, "limitMicros": 1}
    made = await app.client.post(
        "/api/usage-budgets", json={**budget, "hard": False}, headers=app.admin.headers
    )
    assert made.status_code == 201, made.text
    chat_id = await app.chat(app.admin)
    answered = await app.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "hi"}, headers=app.admin.headers
    )
    assert answered.status_code == 201, answered.text


async def test_every_event_is_emitted_once_by_its_trigger_to_subscribed_active_webhooks(
    make_harness: Harnesses, receiver: Receiver
) -> None:
    app = await make_harness(**SETTINGS)
    everything = await _webhook(app, receiver.url, EVENTS)
    only_removals = await _webhook(app, receiver.url, ["seat_removed"])
    inactive = await _webhook(app, receiver.url, EVENTS, active=False)
    user_id = await _users_and_seats(app)
    job_id = await _job_run(app)
    await _budget_alert(app)
    expected = Counter(EVENTS) + Counter(["user_created", "seat_removed"])
    await receiver.wait_for(sum(expected.values()))

    async def all_delivered() -> list[dict[str, Any]]:
        rows = await _deliveries(app, everything)
        return rows if len(rows) == 7 and {r["status"] for r in rows} == {"delivered"} else []

    rows = await eventually(all_delivered, seconds=10)
    assert Counter(r["event"] for r in rows) == Counter(EVENTS) + Counter(["user_created"])
    attempts = receiver.seen()
    assert Counter(a.headers["x-switchboard-event"] for a in attempts) == expected
    bodies = {a.headers["x-switchboard-delivery"]: verify(a, SECRET) for a in attempts}
    by_type: dict[str, list[dict[str, Any]]] = {}
    for body in bodies.values():
        by_type.setdefault(body["type"], []).append(body)
    assert by_type["user_deactivated"][0]["userId"] == user_id
    assert by_type["job_run"][0]["jobId"] == job_id and by_type["job_run"][0]["status"] == "done"
    assert by_type["usage_alert"][0]["budgetName"] == "Tiny"
    assert by_type["usage_alert"][0]["threshold"] == 1.0
    assert [r["event"] for r in await _deliveries(app, only_removals)] == ["seat_removed"]
    assert await _deliveries(app, inactive) == []
