"""Your own sessions: listed with where they were opened, ended one at a time or all but the
current, and all ended (but the caller's new one) by a password change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.support import PASSWORD, AppHarness

pytestmark = pytest.mark.anyio
NEW_PASSWORD = "a different horse entirely"


@asynccontextmanager
async def _browser(harness: AppHarness, agent: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with a cookie jar of its own, signed in as cat."""
    transport = httpx.ASGITransport(app=harness.app)
    headers = {"User-Agent": agent}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        await _sign_in(client)
        yield client


async def _sign_in(client: httpx.AsyncClient, password: str = PASSWORD) -> None:
    client.cookies.clear()
    body = {"username": "cat", "password": password}
    response = await client.post("/api/auth/login", json=body)
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrfToken"]


async def _signed_in(client: httpx.AsyncClient) -> bool:
    return (await client.get("/api/me")).status_code == 200


async def test_sessions_are_listed_ended_one_or_all_others_and_by_a_password_change(
    harness: AppHarness,
) -> None:
    cat = await harness.member("cat")
    async with _browser(harness, "Browser A") as a, _browser(harness, "Browser B") as b:
        listed = (await a.get("/api/users/me/sessions")).json()["_embedded"]["sessions"]
        assert [(s["userAgent"], s["current"]) for s in listed] == [
            ("Browser B", False),
            ("Browser A", True),
        ]
        assert all(s["ip"] for s in listed)
        other = await harness.member("dot")
        refused = await harness.client.delete(
            f"/api/users/me/sessions/{listed[0]['id']}", headers=other.headers
        )
        assert refused.status_code == 404  # not dot's session
        assert (await a.delete(f"/api/users/me/sessions/{listed[0]['id']}")).status_code == 204
        assert not await _signed_in(b) and await _signed_in(a)

        await _sign_in(b)
        ended = await a.post("/api/users/me/sessions/_end-others")
        assert ended.json() == {"ended": 1}
        assert not await _signed_in(b) and await _signed_in(a)

        await _sign_in(b)
        change = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "keepApiTokens": True}
        changed = await a.post("/api/me/password", json=change)
        assert changed.status_code == 200, changed.text
        a.headers["X-CSRF-Token"] = changed.json()["csrfToken"]
        assert not await _signed_in(b) and await _signed_in(a)
        assert len((await a.get("/api/users/me/sessions")).json()["_embedded"]["sessions"]) == 1

    events = await harness.client.get(
        "/api/audit-events", params={"actor": cat.id}, headers=harness.admin.headers
    )
    kinds = [e["kind"] for e in events.json()["_embedded"]["auditEvents"]]
    assert kinds.count("session.ended") == 2 and "password.changed" in kinds
