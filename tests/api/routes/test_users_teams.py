"""Users and teams, as admins manage them."""

from __future__ import annotations

import pytest

from tests.support import PASSWORD, AppHarness

pytestmark = pytest.mark.anyio


async def test_admin_creates_updates_and_deletes_a_user(harness: AppHarness) -> None:
    h = harness.admin.headers
    made = await harness.client.post(
        "/api/users", json={"username": "bob", "password": PASSWORD}, headers=h
    )
    assert made.status_code == 201 and made.json()["role"] == "member"
    user_id = made.json()["id"]
    assert made.json()["_links"]["self"]["href"] == f"/api/users/{user_id}"
    patched = await harness.client.patch(
        f"/api/users/{user_id}", json={"displayName": "Bob B"}, headers=h
    )
    assert patched.json()["displayName"] == "Bob B"
    login = await harness.client.post(
        "/api/auth/login", json={"username": "bob", "password": PASSWORD}
    )
    assert login.status_code == 200
    assert (await harness.client.delete(f"/api/users/{user_id}", headers=h)).status_code == 204
    assert (await harness.client.get(f"/api/users/{user_id}", headers=h)).status_code == 404


async def test_duplicate_username_is_a_conflict(harness: AppHarness) -> None:
    body = {"username": "Carol", "password": PASSWORD}
    assert (
        await harness.client.post("/api/users", json=body, headers=harness.admin.headers)
    ).status_code == 201
    again = await harness.client.post(
        "/api/users", json={**body, "username": "carol"}, headers=harness.admin.headers
    )
    assert again.status_code == 409 and again.json()["code"] == "username_taken"


async def test_new_users_are_members_of_the_everyone_team_however_they_are_made(
    harness: AppHarness,
) -> None:
    h = harness.admin.headers
    by_api = await harness.client.post(
        "/api/users", json={"username": "gus", "password": PASSWORD}, headers=h
    )
    by_service = await harness.member("hana")
    teams = (await harness.client.get("/api/teams?q=Everyone", headers=h)).json()
    (everyone,) = teams["_embedded"]["teams"]
    listing = await harness.client.get(f"/api/teams/{everyone['id']}/members", headers=h)
    members = {m["userId"] for m in listing.json()["_embedded"]["members"]}
    assert {harness.admin.id, by_api.json()["id"], by_service.id} <= members
    me = await harness.client.get("/api/me", headers=by_service.headers)
    assert me.json()["teamIds"] == [everyone["id"]]


async def test_the_everyone_team_is_made_again_for_the_next_user_when_deleted(
    harness: AppHarness,
) -> None:
    h = harness.admin.headers
    (everyone,) = (await harness.client.get("/api/teams?q=Everyone", headers=h)).json()[
        "_embedded"
    ]["teams"]
    assert (
        await harness.client.delete(f"/api/teams/{everyone['id']}", headers=h)
    ).status_code == 204
    member = await harness.member("ivo")
    me = await harness.client.get("/api/me", headers=member.headers)
    (again,) = (await harness.client.get("/api/teams?q=Everyone", headers=h)).json()["_embedded"][
        "teams"
    ]
    assert me.json()["teamIds"] == [again["id"]]


async def test_deactivated_user_cannot_log_in(harness: AppHarness) -> None:
    member = await harness.member("dan")
    await harness.client.patch(
        f"/api/users/{member.id}", json={"active": False}, headers=harness.admin.headers
    )
    login = await harness.client.post(
        "/api/auth/login", json={"username": "dan", "password": PASSWORD}
    )
    assert login.status_code == 401
    assert (await harness.client.get("/api/me", headers=member.headers)).status_code == 401


async def test_the_last_admin_cannot_be_demoted(harness: AppHarness) -> None:
    response = await harness.client.patch(
        f"/api/users/{harness.admin.id}", json={"role": "member"}, headers=harness.admin.headers
    )
    assert response.status_code == 409 and response.json()["code"] == "last_admin"


async def test_user_list_pages_with_links_and_search(harness: AppHarness) -> None:
    for name in ("u1", "u2", "u3"):
        await harness.member(name)
    page = await harness.client.get(
        "/api/users?limit=2&sort=username", headers=harness.admin.headers
    )
    body = page.json()
    assert body["total"] == 4 and body["limit"] == 2 and len(body["_embedded"]["users"]) == 2
    assert "next" in body["_links"] and "prev" not in body["_links"]
    found = await harness.client.get("/api/users?q=u2", headers=harness.admin.headers)
    assert [u["username"] for u in found.json()["_embedded"]["users"]] == ["u2"]
    bad = await harness.client.get("/api/users?sort=password", headers=harness.admin.headers)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_sort"


async def test_team_members_are_added_listed_and_removed(harness: AppHarness) -> None:
    h = harness.admin.headers
    member = await harness.member("erin")
    team = (await harness.client.post("/api/teams", json={"name": "Sales"}, headers=h)).json()
    added = await harness.client.post(
        f"/api/teams/{team['id']}/members", json={"userId": member.id}, headers=h
    )
    assert added.status_code == 201
    again = await harness.client.post(
        f"/api/teams/{team['id']}/members", json={"userId": member.id}, headers=h
    )
    assert again.status_code == 409
    listing = await harness.client.get(f"/api/teams/{team['id']}/members", headers=h)
    assert [m["username"] for m in listing.json()["_embedded"]["members"]] == ["erin"]
    me = await harness.client.get("/api/me", headers=member.headers)
    assert team["id"] in me.json()["teamIds"]
    gone = await harness.client.delete(f"/api/teams/{team['id']}/members/{member.id}", headers=h)
    assert gone.status_code == 204
    me = await harness.client.get("/api/me", headers=member.headers)
    assert team["id"] not in me.json()["teamIds"]
    assert (
        await harness.client.delete(f"/api/teams/{team['id']}/members/{member.id}", headers=h)
    ).status_code == 404


async def test_team_names_are_unique_and_teams_can_be_renamed_and_deleted(
    harness: AppHarness,
) -> None:
    h = harness.admin.headers
    team = (await harness.client.post("/api/teams", json={"name": "Ops"}, headers=h)).json()
    assert (
        await harness.client.post("/api/teams", json={"name": "ops"}, headers=h)
    ).status_code == 409
    renamed = await harness.client.patch(
        f"/api/teams/{team['id']}", json={"name": "Platform"}, headers=h
    )
    assert renamed.json()["name"] == "Platform"
    assert (await harness.client.delete(f"/api/teams/{team['id']}", headers=h)).status_code == 204
    assert (await harness.client.get(f"/api/teams/{team['id']}", headers=h)).status_code == 404


async def test_team_names_differing_only_in_non_ascii_case_are_a_conflict_not_a_500(
    harness: AppHarness,
) -> None:
    h = harness.admin.headers
    assert (
        await harness.client.post("/api/teams", json={"name": "Ärzte"}, headers=h)
    ).status_code == 201
    again = await harness.client.post("/api/teams", json={"name": "Ärzte"}, headers=h)
    assert again.status_code == 409 and again.json()["code"] == "team_name_taken"
    other = (await harness.client.post("/api/teams", json={"name": "Zahnärzte"}, headers=h)).json()
    renamed = await harness.client.patch(
        f"/api/teams/{other['id']}", json={"name": "Ärzte"}, headers=h
    )
    assert renamed.status_code == 409


async def test_every_route_addressing_a_team_or_user_is_403_for_members_before_any_404(
    harness: AppHarness,
) -> None:
    member = await harness.member("nosy")
    team = await harness.client.post(
        "/api/teams", json={"name": "real"}, headers=harness.admin.headers
    )
    real = team.json()["id"]
    cases = [
        ("GET", "/api/teams/nope", None, "team_not_found"),
        ("PATCH", "/api/teams/nope", {"name": "x"}, "team_not_found"),
        ("DELETE", "/api/teams/nope", None, "team_not_found"),
        ("GET", "/api/teams/nope/members", None, "team_not_found"),
        ("POST", "/api/teams/nope/members", {"userId": member.id}, "team_not_found"),
        ("DELETE", f"/api/teams/nope/members/{member.id}", None, "team_not_found"),
        ("GET", "/api/teams/nope/ai-subscription", None, "team_not_found"),
        ("GET", "/api/teams/nope/seats", None, "team_not_found"),
        ("POST", "/api/teams/nope/seats", {"userId": member.id}, "team_not_found"),
        ("GET", "/api/teams/nope/models", None, "team_not_found"),
        ("PUT", "/api/teams/nope/models/no-such-model", None, "team_not_found"),
        ("DELETE", "/api/teams/nope/models/fake", None, "team_not_found"),
        ("PUT", f"/api/teams/{real}/models/no-such-model", None, "model_not_found"),
        ("GET", "/api/users/nope", None, "user_not_found"),
        ("PATCH", "/api/users/nope", {"displayName": "x"}, "user_not_found"),
        ("DELETE", "/api/users/nope", None, "user_not_found"),
    ]
    for method, path, body, code in cases:
        denied = await harness.client.request(method, path, json=body, headers=member.headers)
        assert denied.status_code == 403, (method, path, denied.text)
        assert denied.json()["code"] == "permission_denied"
        missing = await harness.client.request(
            method, path, json=body, headers=harness.admin.headers
        )
        assert missing.status_code == 404, (method, path, missing.text)
        assert missing.json()["code"] == code, (method, path)
