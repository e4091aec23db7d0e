"""Admins see when and how each user last signed in: a password login, or an API token's use."""

from __future__ import annotations

import pytest

from tests.support import PASSWORD, AppHarness

pytestmark = pytest.mark.anyio


async def test_the_user_list_says_when_and_how_each_user_last_signed_in(
    harness: AppHarness,
) -> None:
    await harness.member("dan")
    eve = await harness.member("eve")
    await harness.member("fay")
    login = {"username": "dan", "password": PASSWORD}
    assert (await harness.client.post("/api/auth/login", json=login)).status_code == 200
    harness.client.cookies.clear()
    assert (await harness.client.get("/api/me", headers=eve.headers)).status_code == 200

    listed = await harness.client.get("/api/users", headers=harness.admin.headers)
    rows = {u["username"]: u for u in listed.json()["_embedded"]["users"]}
    assert rows["dan"]["lastSignInMethod"] == "password" and rows["dan"]["lastSignInAt"]
    assert rows["dan"]["lastLoginMethod"] == "password"
    assert rows["eve"]["lastSignInMethod"] == "token" and rows["eve"]["lastSignInAt"]
    assert rows["fay"]["lastSignInMethod"] is None and rows["fay"]["lastSignInAt"] is None
