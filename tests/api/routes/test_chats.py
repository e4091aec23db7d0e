"""Chat routes: ownership, validation, listing."""

from __future__ import annotations

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness

pytestmark = pytest.mark.anyio


async def test_another_users_chat_is_404_on_every_route(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    owner = harness.admin
    chat_id = await harness.chat(owner)
    sent = await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "secret plan"}, headers=owner.headers
    )
    message_id = sent.json()["id"]
    intruder = await harness.member("ivan")
    base = f"/api/chats/{chat_id}"
    calls = [
        ("GET", base, None),
        ("PATCH", base, {"title": "mine"}),
        ("DELETE", base, None),
        ("GET", base + "/messages", None),
        ("POST", base + "/messages", {"content": "hi"}),
        ("GET", f"{base}/messages/{message_id}", None),
        ("GET", f"{base}/messages/{message_id}/events", None),
        ("POST", f"{base}/messages/{message_id}/_cancel", None),
        ("POST", f"{base}/messages/{message_id}/_regenerate", None),
    ]
    for method, path, body in calls:
        response = await harness.client.request(method, path, json=body, headers=intruder.headers)
        assert response.status_code == 404, (method, path, response.status_code)
        assert "secret plan" not in response.text
    listing = await harness.client.get("/api/chats", headers=intruder.headers)
    assert listing.json()["total"] == 0
    still = await harness.client.get(f"{base}/messages", headers=owner.headers)
    assert still.json()["_embedded"]["messages"][0]["content"] == "secret plan"
    assert upstream.recorder.count() == 1


async def test_bad_message_bodies_get_422_with_the_field_named(harness: AppHarness) -> None:
    chat_id = await harness.chat(harness.admin)
    for body in (
        {},
        {"content": ""},
        {"content": "x", "temperature": 5},
        {"content": "x", "maxTokens": 0},
        {"content": "x", "unknownField": 1},
        {"content": 42},
    ):
        response = await harness.client.post(
            f"/api/chats/{chat_id}/messages", json=body, headers=harness.admin.headers
        )
        assert response.status_code == 422, body
        assert response.json()["code"] == "invalid_input" and response.json()["details"]["errors"]


async def test_non_json_body_is_a_422_json_error(harness: AppHarness) -> None:
    chat_id = await harness.chat(harness.admin)
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages",
        content=b"\xff\x00not json",
        headers={**harness.admin.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"


async def test_unknown_model_is_refused_before_any_provider_call(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    chat_id = await harness.chat(harness.admin)
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "hi", "model": "gpt-17"},
        headers=harness.admin.headers,
    )
    assert response.status_code == 422 and response.json()["code"] == "unknown_model"
    assert upstream.recorder.count() == 0


async def test_first_message_titles_the_chat_and_chats_can_be_renamed_searched_deleted(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    h = harness.admin.headers
    chat_id = await harness.chat(harness.admin)
    await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "Quarterly revenue by region"}, headers=h
    )
    chat = (await harness.client.get(f"/api/chats/{chat_id}", headers=h)).json()
    assert chat["title"] == "Quarterly revenue by region"
    await harness.client.patch(f"/api/chats/{chat_id}", json={"title": "Revenue"}, headers=h)
    found = await harness.client.get("/api/chats?q=reven", headers=h)
    assert [c["title"] for c in found.json()["_embedded"]["chats"]] == ["Revenue"]
    assert (await harness.client.delete(f"/api/chats/{chat_id}", headers=h)).status_code == 204
    assert (await harness.client.get(f"/api/chats/{chat_id}", headers=h)).status_code == 404


async def test_request_id_is_echoed_on_every_response(harness: AppHarness) -> None:
    response = await harness.client.get("/api/health", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = await harness.client.get("/api/nope")
    assert generated.status_code == 404 and generated.json()["code"] == "not_found"
    assert len(generated.headers["x-request-id"]) == 32


async def test_ready_checks_the_database(harness: AppHarness) -> None:
    assert (await harness.client.get("/api/ready")).json() == {"status": "ready"}


async def test_metrics_count_requests_model_calls_cost_and_refusals(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", chunks=3, prompt_tokens=100)
    chat_id = await harness.chat(harness.admin)
    await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "hi"}, headers=harness.admin.headers
    )
    member = await harness.member("nina")
    own = await harness.chat(member)
    refused = await harness.client.post(
        f"/api/chats/{own}/messages", json={"content": "hi"}, headers=member.headers
    )
    assert refused.status_code == 403
    admin = (await harness.client.get("/api/me", headers=harness.admin.headers)).json()
    # Whom to ask for a seat: the admins, by name and address.
    assert refused.json()["details"]["admins"] == [
        {"name": admin["displayName"] or admin["username"], "email": admin.get("email")}
    ]
    assert (await harness.client.get("/metrics", headers=member.headers)).status_code == 403
    text = (await harness.client.get("/metrics", headers=harness.admin.headers)).text
    assert (
        'switchboard_model_calls_total{model="fake",outcome="completed",source="chat"} 1.0' in text
    )
    assert 'switchboard_model_cost_micros_total{model="fake"} 1090.0' in text
    assert 'switchboard_refusals_total{code="seat_required"} 1.0' in text
    assert 'route="/api/chats/{chat_id}/messages",status="201"' in text
