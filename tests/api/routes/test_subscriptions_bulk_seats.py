"""Bulk seats over HTTP: admins only, each user on their own, never oversold, bad input 422."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.billing_builders import add_seats, join
from tests.support import AppHarness

pytestmark = pytest.mark.anyio


async def _team(harness: AppHarness, seats: int) -> str:
    made = await harness.client.post(
        "/api/teams", json={"name": "Bulk"}, headers=harness.admin.headers
    )
    team_id = str(made.json()["id"])
    await add_seats(harness, team_id, seats)
    return team_id


async def test_bulk_assign_seats_members_and_names_every_refusal(harness: AppHarness) -> None:
    team_id = await _team(harness, 2)
    ann, bob, cat = [await harness.member(n) for n in ("ann", "bob", "cat")]
    stranger = await harness.member("stranger")
    for member in (ann, bob, cat):
        await join(harness, team_id, member)
    response = await harness.client.post(
        f"/api/teams/{team_id}/seats/_assign",
        json={"usernames": ["ann", "nobody", "stranger", "bob", "cat", "ann"]},
        headers=harness.admin.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["assigned"] == ["ann", "bob"]
    assert body["failed"] == [
        {"username": "nobody", "code": "unknown_user"},
        {"username": "stranger", "code": "not_team_member"},
        {"username": "cat", "code": "no_seats_left"},
    ]
    assert body["_links"]["self"]["href"] == f"/api/teams/{team_id}/seats"
    listed = await harness.client.get(f"/api/teams/{team_id}/seats", headers=harness.admin.headers)
    assert {s["userId"] for s in listed.json()["_embedded"]["seats"]} == {ann.id, bob.id}
    again = await harness.client.post(
        f"/api/teams/{team_id}/seats/_assign",
        json={"usernames": ["ann"]},
        headers=harness.admin.headers,
    )
    assert again.json()["failed"] == [{"username": "ann", "code": "already_assigned"}]
    assert stranger.id not in {s["userId"] for s in listed.json()["_embedded"]["seats"]}


async def test_concurrent_bulk_assigns_never_oversell(harness: AppHarness) -> None:
    team_id = await _team(harness, 5)
    members = [await harness.member(f"crew{i}") for i in range(12)]
    for member in members:
        await join(harness, team_id, member)
    names = [m.username for m in members]
    responses = await asyncio.gather(
        *(
            harness.client.post(
                f"/api/teams/{team_id}/seats/_assign",
                json={"usernames": names[i::3]},
                headers=harness.admin.headers,
            )
            for i in range(3)
        )
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assigned = [n for r in responses for n in r.json()["assigned"]]
    codes = {f["code"] for r in responses for f in r.json()["failed"]}
    assert len(assigned) == 5 and codes == {"no_seats_left"}
    subscription = await harness.client.get(
        f"/api/teams/{team_id}/ai-subscription", headers=harness.admin.headers
    )
    assert (subscription.json()["seats"], subscription.json()["seatsUsed"]) == (5, 5)


async def test_bulk_unassign_frees_seats_and_names_those_without_one(
    harness: AppHarness,
) -> None:
    team_id = await _team(harness, 2)
    ann, bob = [await harness.member(n) for n in ("ann", "bob")]
    for member in (ann, bob):
        await join(harness, team_id, member)
    headers = harness.admin.headers
    await harness.client.post(
        f"/api/teams/{team_id}/seats/_assign", json={"usernames": ["ann"]}, headers=headers
    )
    response = await harness.client.post(
        f"/api/teams/{team_id}/seats/_unassign",
        json={"usernames": ["ann", "bob", "ghost"]},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["unassigned"] == ["ann"]
    assert response.json()["failed"] == [
        {"username": "bob", "code": "not_assigned"},
        {"username": "ghost", "code": "unknown_user"},
    ]
    listed = await harness.client.get(f"/api/teams/{team_id}/seats", headers=headers)
    assert listed.json()["total"] == 0


async def test_only_admins_may_assign_in_bulk_and_a_missing_team_is_404(
    harness: AppHarness,
) -> None:
    team_id = await _team(harness, 2)
    member = await harness.member("mia")
    await join(harness, team_id, member)
    for action in ("_assign", "_unassign"):
        refused = await harness.client.post(
            f"/api/teams/{team_id}/seats/{action}",
            json={"usernames": ["mia"]},
            headers=member.headers,
        )
        assert refused.status_code == 403, refused.text
        anonymous = await harness.client.post(
            f"/api/teams/{team_id}/seats/{action}", json={"usernames": ["mia"]}
        )
        assert anonymous.status_code == 401
        missing = await harness.client.post(
            f"/api/teams/no-such-team/seats/{action}",
            json={"usernames": ["mia"]},
            headers=harness.admin.headers,
        )
        assert missing.status_code == 404 and missing.json()["code"] == "team_not_found"
    listed = await harness.client.get(f"/api/teams/{team_id}/seats", headers=harness.admin.headers)
    assert listed.json()["total"] == 0


async def test_bad_lists_are_422_and_a_team_without_subscription_is_404(
    harness: AppHarness,
) -> None:
    team_id = await _team(harness, 1)
    headers = harness.admin.headers
    bodies: list[dict[str, object]] = [
        {"usernames": []},
        {"usernames": ["u"] * 1001},
        {"usernames": [""]},
        {"usernames": "ann"},
        {},
    ]
    for body in bodies:
        response = await harness.client.post(
            f"/api/teams/{team_id}/seats/_assign", json=body, headers=headers
        )
        assert response.status_code == 422, (body, response.text)
        assert "usernames" in response.text
    bare = await harness.client.post("/api/teams", json={"name": "Bare"}, headers=headers)
    response = await harness.client.post(
        f"/api/teams/{bare.json()['id']}/seats/_assign",
        json={"usernames": ["ann"]},
        headers=headers,
    )
    assert response.status_code == 404 and response.json()["code"] == "subscription_not_found"
