"""Webhooks over HTTP: admins' CRUD (the secret never shown), a signed test ping, delivery
history after a failing receiver, and the SSRF guard on their URLs.

The receiver is a real HTTP server on 127.0.0.1 (tests/fakes/webhook_receiver.py), reachable only
because SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS lists it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.webhook_receiver import Receiver, receiving, verify
from tests.support import AppHarness, Harnesses, eventually

pytestmark = pytest.mark.anyio
SECRET = "first-webhook-secret"
LOOPBACK = {"webhook_allowed_hosts": ["127.0.0.1"]}
FAST = {"webhook_retry_seconds": 0.1, "webhook_poll_seconds": 0.05, "webhook_max_attempts": 3}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving(refuse=0) as hooks:
        yield hooks


async def _create(harness: AppHarness, **body: Any) -> dict[str, Any]:
    response = await harness.client.post("/api/webhooks", json=body, headers=harness.admin.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_an_admin_creates_reads_lists_updates_and_deletes_a_webhook_never_seeing_its_secret(
    make_harness: Harnesses, receiver: Receiver
) -> None:
    app = await make_harness(**LOOPBACK)
    headers = app.admin.headers
    made = await _create(app, url=receiver.url, events=["job_run", "user_created"], secret=SECRET)
    assert (made["url"], made["events"], made["active"]) == (
        receiver.url,
        ["job_run", "user_created"],
        True,
    )
    href = made["_links"]["self"]["href"]
    assert href == f"/api/webhooks/{made['id']}"
    changed = await app.client.patch(
        href, json={"events": ["seat_assigned"], "active": False}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["events"], changed.json()["active"]) == (["seat_assigned"], False)
    read = await app.client.get(href, headers=headers)
    listed = await app.client.get("/api/webhooks", headers=headers)
    assert [w["id"] for w in listed.json()["_embedded"]["webhooks"]] == [made["id"]]
    for response in (made, changed.json(), read.json(), listed.json()):
        text = str(response)
        assert SECRET not in text and "secret" not in text.lower()
    deleted = await app.client.delete(href, headers=headers)
    assert deleted.status_code == 204
    gone = await app.client.get(href, headers=headers)
    assert (gone.status_code, gone.json()["code"]) == (404, "webhook_not_found")


async def test_members_get_403_and_a_missing_webhook_is_404(
    make_harness: Harnesses, receiver: Receiver
) -> None:
    app = await make_harness(**LOOPBACK)
    member = await app.member("mel")
    made = await _create(app, url=receiver.url, events=["job_run"], secret=SECRET)
    href = f"/api/webhooks/{made['id']}"
    body = {"url": receiver.url, "events": ["job_run"], "secret": SECRET}
    calls = [
        ("GET", "/api/webhooks", None),
        ("POST", "/api/webhooks", body),
        ("GET", href, None),
        ("PATCH", href, {"active": False}),
        ("DELETE", href, None),
        ("POST", f"{href}/_test", None),
        ("GET", f"{href}/deliveries", None),
    ]
    for method, path, json in calls:
        response = await app.client.request(method, path, json=json, headers=member.headers)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied"), path
        missing = path.replace(made["id"], "01MISSINGWEBHOOK0000000000")
        if missing != path:
            response = await app.client.request(
                method, missing, json=json, headers=app.admin.headers
            )
            assert (response.status_code, response.json()["code"]) == (404, "webhook_not_found")
    assert receiver.seen() == []  # nobody's call sent anything


async def test_bad_urls_unknown_events_and_private_hosts_not_allowed_are_422(
    make_harness: Harnesses, receiver: Receiver
) -> None:
    app = await make_harness()  # loopback not allowed here
    headers = app.admin.headers
    good = {"url": "https://hooks.example.com/in", "events": ["job_run"], "secret": SECRET}
    bad_bodies = [
        ({**good, "url": "not a url"}, "webhook_url_not_allowed"),
        ({**good, "url": "ftp://hooks.example.com/in"}, "webhook_url_not_allowed"),
        ({**good, "url": "http://user:pw@hooks.example.com/"}, "webhook_url_not_allowed"),
        ({**good, "events": ["job_run", "everything"]}, "invalid_input"),
        ({**good, "events": []}, "invalid_input"),
        ({**good, "secret": "short"}, "invalid_input"),
        ({**good, "url": receiver.url}, "webhook_url_not_allowed"),
        ({**good, "url": "http://10.1.2.3/hook"}, "webhook_url_not_allowed"),
        ({**good, "url": "http://169.254.169.254/latest"}, "webhook_url_not_allowed"),
    ]
    for body, code in bad_bodies:
        response = await app.client.post("/api/webhooks", json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["code"] == code, (body, response.text)
    private = await app.client.post(
        "/api/webhooks", json={**good, "url": receiver.url}, headers=headers
    )
    assert "SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS" in private.json()["message"]
    listed = await app.client.get("/api/webhooks", headers=headers)
    assert listed.json()["total"] == 0


async def test_an_update_to_a_private_host_not_allowed_is_422_and_changes_nothing(
    make_harness: Harnesses, receiver: Receiver
) -> None:
    app = await make_harness(webhook_allowed_hosts=[f"127.0.0.1:{receiver.url.split(':')[2][:5]}"])
    made = await _create(app, url=receiver.url, events=["job_run"], secret=SECRET)
    href = f"/api/webhooks/{made['id']}"
    other_port = "http://127.0.0.1:1/hook"  # allowed only on the receiver's port
    moved = await app.client.patch(href, json={"url": other_port}, headers=app.admin.headers)
    assert (moved.status_code, moved.json()["code"]) == (422, "webhook_url_not_allowed")
    read = await app.client.get(href, headers=app.admin.headers)
    assert read.json()["url"] == receiver.url


async def test_a_test_ping_is_signed_with_the_webhook_secret_and_answers_the_outcome(
    make_harness: Harnesses, receiver: Receiver
) -> None:
    app = await make_harness(**LOOPBACK)
    made = await _create(app, url=receiver.url, events=["job_run"], secret=SECRET)
    href = f"/api/webhooks/{made['id']}"
    pinged = await app.client.post(f"{href}/_test", headers=app.admin.headers)
    assert pinged.status_code == 200, pinged.text
    outcome = pinged.json()
    assert (outcome["event"], outcome["status"], outcome["attempts"]) == ("ping", "delivered", 1)
    assert (outcome["responseCode"], outcome["lastError"]) == (200, None)
    (attempt,) = receiver.seen()
    assert attempt.headers["x-switchboard-event"] == "ping"
    assert attempt.headers["x-switchboard-delivery"] == outcome["id"]
    body = verify(attempt, SECRET)
    assert (body["type"], body["webhookId"]) == ("ping", made["id"])
    rotated = await app.client.patch(
        href, json={"secret": "second-secret"}, headers=app.admin.headers
    )
    assert rotated.status_code == 200
    await app.client.post(f"{href}/_test", headers=app.admin.headers)
    verify(receiver.seen()[1], "second-secret")  # signed with the rotated secret
    with pytest.raises(AssertionError):
        verify(receiver.seen()[1], SECRET)


async def test_deliveries_to_a_failing_receiver_list_newest_first_with_status_and_attempts(
    make_harness: Harnesses,
) -> None:
    with receiving(refuse=10**6) as failing:
        app = await make_harness(**LOOPBACK, **FAST)
        made = await _create(app, url=failing.url, events=["user_created"], secret=SECRET)
        href = f"/api/webhooks/{made['id']}"
        await app.member("fay")  # user_created: refused three times, then failed
        await failing.wait_for(3)

        async def failed() -> list[dict[str, Any]]:
            listed = await app.client.get(f"{href}/deliveries", headers=app.admin.headers)
            assert listed.status_code == 200, listed.text
            rows: list[dict[str, Any]] = listed.json()["_embedded"]["deliveries"]
            return rows if rows and rows[0]["status"] == "failed" else []

        (row,) = await eventually(failed, seconds=10)
        assert (row["event"], row["attempts"], row["responseCode"]) == ("user_created", 3, 500)
        assert row["lastError"] == "HTTP 500" and row["deliveredAt"] is None
        assert all(verify(a, SECRET)["userId"] for a in failing.seen())
        assert len({a.headers["x-switchboard-delivery"] for a in failing.seen()}) == 1
        pinged = await app.client.post(f"{href}/_test", headers=app.admin.headers)
        assert (pinged.json()["status"], pinged.json()["responseCode"]) == ("pending", 500)
        listed = await app.client.get(f"{href}/deliveries", headers=app.admin.headers)
        events = [d["event"] for d in listed.json()["_embedded"]["deliveries"]]
        assert events == ["ping", "user_created"]  # newest first
