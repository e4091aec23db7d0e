"""Seats over HTTP: no seat no model call, never oversold, unassigning takes effect."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.billing_builders import (
    add_seats,
    admin_team,
    completion,
    join,
    seated_member,
    v1,
)
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, eventually

pytestmark = pytest.mark.anyio


async def test_a_member_without_a_seat_is_refused_before_any_provider_call(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    seatless = await harness.member("sam")
    chat_id = await harness.chat(seatless)
    calls = [
        ("/v1/chat/completions", completion()),
        ("/v1/chat/completions", completion(stream=True)),
        (f"/api/chats/{chat_id}/messages", {"content": "hi"}),
        (f"/api/chats/{chat_id}/messages", {"content": "hi", "stream": True}),
    ]
    for path, body in calls:
        response = await harness.client.post(path, json=body, headers=seatless.headers)
        assert response.status_code == 403, (path, response.text)
        error = response.json()
        assert error.get("error", error)["code"] == "seat_required"  # /v1: OpenAI's shape
    me = await harness.client.get("/api/me", headers=seatless.headers)
    assert me.json()["seat"] is None
    assert upstream.recorder.count() == 0


async def test_the_bootstrap_admin_has_a_seat_shown_on_me(harness: AppHarness) -> None:
    me = (await harness.client.get("/api/me", headers=harness.admin.headers)).json()
    assert me["seat"]["userId"] == harness.admin.id and me["seat"]["teamId"]
    overview = (await harness.client.get("/api/seats", headers=harness.admin.headers)).json()
    [line] = overview["_embedded"]["seats"]
    assert (line["teamId"], line["used"], line["total"]) == (me["seat"]["teamId"], 1, 1)


async def test_ten_concurrent_assignments_with_three_free_seats_give_three_201_and_seven_409(
    harness: AppHarness,
) -> None:
    headers = harness.admin.headers
    team = await harness.client.post("/api/teams", json={"name": "Crew"}, headers=headers)
    team_id = team.json()["id"]
    await add_seats(harness, team_id, 3)
    members = [await harness.member(f"crew{i}") for i in range(10)]
    for member in members:
        await join(harness, team_id, member)
    responses = await asyncio.gather(
        *(
            harness.client.post(
                f"/api/teams/{team_id}/seats", json={"userId": m.id}, headers=headers
            )
            for m in members
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 3 + [409] * 7
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"seats_exhausted"}
    listed = await harness.client.get(f"/api/teams/{team_id}/seats", headers=headers)
    assert listed.json()["total"] == 3
    subscription = await harness.client.get(
        f"/api/teams/{team_id}/ai-subscription", headers=headers
    )
    assert (subscription.json()["seats"], subscription.json()["seatsUsed"]) == (3, 3)


async def test_unassigning_a_seat_mid_use_lets_the_call_finish_and_refuses_the_next(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", chunks=10, delay=0.05)
    member = await seated_member(harness, "uma")
    team_id = await admin_team(harness)
    running = asyncio.ensure_future(v1(harness.client, member, stream=True))

    def started() -> bool:
        if running.done():
            pytest.fail("the call ended before it started upstream")
        return upstream.recorder.count("fake") > 0

    await eventually(started, seconds=10, interval=0.01)
    removed = await harness.client.delete(
        f"/api/teams/{team_id}/seats/{member.id}", headers=harness.admin.headers
    )
    assert removed.status_code == 204
    finished = await asyncio.wait_for(running, timeout=20)
    assert finished.status_code == 200 and finished.text.rstrip().endswith("data: [DONE]")
    refused = await v1(harness.client, member)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "seat_required"
    assert upstream.recorder.count("fake") == 1


async def test_seat_rules_answer_with_their_codes(harness: AppHarness) -> None:
    headers = harness.admin.headers
    team_id = await admin_team(harness)
    outsider = await harness.member("otto")
    left = await harness.client.delete(
        f"/api/teams/{team_id}/members/{outsider.id}", headers=headers
    )
    assert left.status_code == 204  # every new user joins Everyone, the admin's team
    member = await seated_member(harness, "mia")
    cases = [
        ("POST", f"/api/teams/{team_id}/seats", {"userId": outsider.id}, 422, "not_team_member"),
        ("POST", f"/api/teams/{team_id}/seats", {"userId": member.id}, 409, None),
        ("DELETE", f"/api/teams/{team_id}/seats/{outsider.id}", None, 404, "seat_not_found"),
        ("PUT", f"/api/teams/{team_id}/ai-subscription", {"seats": 1}, 409, "seats_in_use"),
        ("GET", "/api/teams/nope/ai-subscription", None, 404, None),
        ("POST", "/api/teams/nope/seats", {"userId": member.id}, 404, None),
    ]
    for method, path, body, status, code in cases:
        response = await harness.client.request(method, path, json=body, headers=headers)
        assert response.status_code == status, (method, path, response.text)
        assert code is None or response.json()["code"] == code
    for path in (
        "/api/seats",
        f"/api/teams/{team_id}/seats",
        f"/api/teams/{team_id}/ai-subscription",
    ):
        assert (await harness.client.get(path, headers=member.headers)).status_code == 403
