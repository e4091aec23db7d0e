"""GET /api/audit-events: sign-ins, tokens, roles, teams and secrets each leave an event with no
secret in it; admins only; filters; CSV."""

from __future__ import annotations

import csv
import io

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.support import ADMIN, PASSWORD, AppHarness

pytestmark = pytest.mark.anyio

CANARIES = ("sk-provider-canary-5d1e", "assistant-secret-canary-77b2", "wrong-password-canary-9")


async def _events(harness: AppHarness, **params: str) -> list[dict[str, object]]:
    response = await harness.client.get(
        "/api/audit-events", params={"limit": "500", **params}, headers=harness.admin.headers
    )
    assert response.status_code == 200, response.text
    events: list[dict[str, object]] = response.json()["_embedded"]["auditEvents"]
    return events


async def test_each_identity_change_leaves_an_event_and_no_secret_reaches_the_log(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    client, admin = harness.client, harness.admin.headers
    login = {"username": ADMIN, "password": CANARIES[2]}
    assert (await client.post("/api/auth/login", json=login)).status_code == 401
    login["password"] = PASSWORD
    assert (await client.post("/api/auth/login", json=login)).status_code == 200
    client.cookies.clear()

    made = await client.post(
        "/api/users", json={"username": "ann", "password": PASSWORD}, headers=admin
    )
    ann = made.json()["id"]
    await client.patch(f"/api/users/{ann}", json={"role": "admin"}, headers=admin)
    team = (await client.post("/api/teams", json={"name": "Ops"}, headers=admin)).json()["id"]
    await client.post(f"/api/teams/{team}/members", json={"userId": ann}, headers=admin)
    await client.delete(f"/api/teams/{team}/members/{ann}", headers=admin)
    issued = (await client.post("/api/api-tokens", json={"name": "ci"}, headers=admin)).json()
    await client.delete(f"/api/api-tokens/{issued['id']}", headers=admin)
    provider = {"name": "P", "type": "openai-compatible", "apiBase": upstream.base_url}
    provider["apiKey"] = CANARIES[0]
    assert (await client.post("/api/providers", json=provider, headers=admin)).status_code == 201
    body = {"name": "A", "instructions": "x", "visibility": "instance"}
    assistant = (await client.post("/api/assistants", json=body, headers=admin)).json()["id"]
    secret = {"name": "KEY", "value": CANARIES[1]}
    sent = await client.post(f"/api/assistants/{assistant}/secrets", json=secret, headers=admin)
    assert sent.status_code == 201

    events = await _events(harness)
    by_kind = {str(e["kind"]): e for e in events}
    assert {
        "sign_in.failed",
        "sign_in.succeeded",
        "user.created",
        "user.role_changed",
        "team.member_added",
        "team.member_removed",
        "token.created",
        "token.revoked",
        "secret.changed",
    } <= set(by_kind)
    failed = by_kind["sign_in.failed"]
    assert failed["outcome"] == "failure" and failed["actorId"] == harness.admin.id
    assert failed["ip"] and failed["details"] == {
        "username": ADMIN,
        "method": "password",
        "reason": "wrong_password",
    }
    role = by_kind["user.role_changed"]
    assert role["actorId"] == harness.admin.id and role["subjectId"] == ann
    assert role["details"] == {"username": "ann", "from": "member", "to": "admin"}
    assert by_kind["token.revoked"]["subjectId"] == issued["id"]
    secrets_changed = [e for e in events if e["kind"] == "secret.changed"]
    assert {e["subjectType"] for e in secrets_changed} == {"provider", "assistant_secret"}
    everything = (await client.get("/api/audit-events?format=csv", headers=admin)).text
    everything += str(events)
    for leaked in (*CANARIES, PASSWORD, issued["token"]):
        assert leaked not in everything


async def test_only_admins_read_the_log_and_filters_and_csv_narrow_it(
    harness: AppHarness,
) -> None:
    member = await harness.member("bob")
    refused = await harness.client.get("/api/audit-events", headers=member.headers)
    assert refused.status_code == 403
    for password in ("nope", PASSWORD):
        login = {"username": "bob", "password": password}
        await harness.client.post("/api/auth/login", json=login)

    failures = await _events(harness, outcome="failure")
    assert [e["kind"] for e in failures] == ["sign_in.failed"]
    bob = await _events(harness, actor=member.id, kind="sign_in.succeeded")
    assert len(bob) == 1 and bob[0]["subjectId"] == member.id
    assert await _events(harness, since="2999-01-01T00:00:00Z") == []

    response = await harness.client.get(
        "/api/audit-events",
        params={"format": "csv", "kind": "sign_in.failed"},
        headers=harness.admin.headers,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["kind"], r["outcome"], r["actorId"]) for r in rows] == [
        ("sign_in.failed", "failure", member.id)
    ]
    bad = await harness.client.get(
        "/api/audit-events", params={"outcome": "maybe"}, headers=harness.admin.headers
    )
    assert bad.status_code == 422


async def test_repeated_refused_sign_ins_show_as_one_event_with_their_count(
    harness: AppHarness,
) -> None:
    login = {"username": "nobody", "password": "guess"}
    for _ in range(3):
        assert (await harness.client.post("/api/auth/login", json=login)).status_code == 401

    [failed] = await _events(harness, kind="sign_in.failed")
    assert failed["count"] == 3 and failed["lastAt"] is not None
    assert failed["details"] == {
        "username": "nobody",
        "method": "password",
        "reason": "unknown_user",
    }
    exported = await harness.client.get(
        "/api/audit-events",
        params={"format": "csv", "kind": "sign_in.failed"},
        headers=harness.admin.headers,
    )
    [row] = list(csv.DictReader(io.StringIO(exported.text)))
    assert row["count"] == "3" and row["lastAt"]
