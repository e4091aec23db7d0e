"""Passwords: the policy for new ones, and what a change ends (sessions, API tokens), by an admin
or by the user, on every worker at once."""

from __future__ import annotations

import httpx
import pytest

from core import clock, users
from core.database import create_engine, sessionmaker, write_transaction
from core.errors import InvalidSettings
from core.schemas import UserUpdate
from tests.support import PASSWORD, AppHarness, Caller, Harnesses, frozen_clock

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "violet kettle under the stairs"
WEAK = [
    ("password", "password_too_short"),
    ("passwordpassword", "password_too_common"),
    ("qwertyuiop123", "password_too_common"),
    ("\x00" * 12, "password_has_control_characters"),
    ("violet kettle\nunder", "password_has_control_characters"),
]


async def _log_in(harness: AppHarness, username: str, password: str) -> httpx.Response:
    return await harness.client.post(
        "/api/auth/login", json={"username": username, "password": password}
    )


async def _session_of(harness: AppHarness, username: str) -> dict[str, str]:
    """The cookies of a fresh login (the harness client keeps none of them)."""
    login = await _log_in(harness, username, PASSWORD)
    assert login.status_code == 200, login.text
    harness.client.cookies.clear()
    return {**dict(login.cookies), "csrf": login.json()["csrfToken"]}


async def _me(
    harness: AppHarness, *, cookies: dict[str, str] | None = None, caller: Caller | None = None
) -> int:
    headers = caller.headers if caller else {}
    jar = {k: v for k, v in (cookies or {}).items() if k != "csrf"}
    return (await harness.client.get("/api/me", headers=headers, cookies=jar)).status_code


@pytest.mark.parametrize(("password", "code"), WEAK)
async def test_weak_passwords_are_refused_with_a_code_saying_why(
    harness: AppHarness, password: str, code: str
) -> None:
    h = harness.admin.headers
    made = await harness.client.post(
        "/api/users", json={"username": "pia", "password": password}, headers=h
    )
    assert made.status_code == 422 and made.json()["code"] == code, made.text
    member = await harness.member("quinn")
    patched = await harness.client.patch(
        f"/api/users/{member.id}", json={"password": password}, headers=h
    )
    assert patched.status_code == 422 and patched.json()["code"] == code
    own = await harness.client.post(
        "/api/me/password",
        json={"currentPassword": PASSWORD, "newPassword": password},
        headers=member.headers,
    )
    assert own.status_code == 422 and own.json()["code"] == code
    assert await _me(harness, caller=member) == 200  # nothing changed


async def test_a_password_made_of_the_username_is_too_common(harness: AppHarness) -> None:
    made = await harness.client.post(
        "/api/users",
        json={"username": "rosalind", "password": "rosalind1234"},
        headers=harness.admin.headers,
    )
    assert made.status_code == 422 and made.json()["code"] == "password_too_common"


async def test_an_admin_password_change_ends_sessions_and_api_tokens(harness: AppHarness) -> None:
    member = await harness.member("sam")
    cookies = await _session_of(harness, "sam")
    assert await _me(harness, cookies=cookies) == 200 and await _me(harness, caller=member) == 200
    changed = await harness.client.patch(
        f"/api/users/{member.id}", json={"password": NEW_PASSWORD}, headers=harness.admin.headers
    )
    assert changed.status_code == 200
    assert await _me(harness, cookies=cookies) == 401
    assert await _me(harness, caller=member) == 401
    assert (await _log_in(harness, "sam", PASSWORD)).status_code == 401
    assert (await _log_in(harness, "sam", NEW_PASSWORD)).status_code == 200


async def test_an_admin_password_change_may_keep_api_tokens(harness: AppHarness) -> None:
    member = await harness.member("tess")
    cookies = await _session_of(harness, "tess")
    changed = await harness.client.patch(
        f"/api/users/{member.id}",
        json={"password": NEW_PASSWORD, "keepApiTokens": True},
        headers=harness.admin.headers,
    )
    assert changed.status_code == 200
    assert await _me(harness, cookies=cookies) == 401
    assert await _me(harness, caller=member) == 200


async def test_a_password_changed_by_another_worker_ends_credentials_here_at_once(
    harness: AppHarness,
) -> None:
    member = await harness.member("uma")
    cookies = await _session_of(harness, "uma")
    # Both are now in this worker's caches.
    assert await _me(harness, cookies=cookies) == 200 and await _me(harness, caller=member) == 200
    other = create_engine(harness.services.engine.url.render_as_string(hide_password=False))
    try:
        async with write_transaction(sessionmaker(other)) as session:
            user = await users.get(session, user_id=member.id)
            await users.update(session, user=user, data=UserUpdate(password=NEW_PASSWORD))
    finally:
        await other.dispose()
    assert await _me(harness, cookies=cookies) == 401
    assert await _me(harness, caller=member) == 401


async def test_a_member_changes_their_password_and_keeps_a_new_session(
    harness: AppHarness,
) -> None:
    member = await harness.member("vera")
    other_browser = await _session_of(harness, "vera")
    cookies = await _session_of(harness, "vera")
    jar = {k: v for k, v in cookies.items() if k != "csrf"}
    changed = await harness.client.post(
        "/api/me/password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        cookies=jar,
        headers={"X-CSRF-Token": cookies["csrf"]},
    )
    assert changed.status_code == 200, changed.text
    fresh = {"switchboard_session": changed.cookies["switchboard_session"]}
    harness.client.cookies.clear()
    assert (
        changed.json()["csrfToken"] and fresh["switchboard_session"] != jar["switchboard_session"]
    )
    assert await _me(harness, cookies=fresh) == 200
    assert await _me(harness, cookies=cookies) == 401
    assert await _me(harness, cookies=other_browser) == 401
    assert await _me(harness, caller=member) == 401  # API tokens revoked too
    assert (await _log_in(harness, "vera", NEW_PASSWORD)).status_code == 200


async def test_a_member_may_keep_api_tokens_when_changing_their_password(
    harness: AppHarness,
) -> None:
    member = await harness.member("wren")
    changed = await harness.client.post(
        "/api/me/password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "keepApiTokens": True},
        headers=member.headers,
    )
    assert changed.status_code == 200 and changed.json()["csrfToken"] is None
    assert await _me(harness, caller=member) == 200


async def test_a_wrong_current_password_is_refused_and_throttled(harness: AppHarness) -> None:
    member = await harness.member("xena")
    body = {"currentPassword": "not my password at all", "newPassword": NEW_PASSWORD}
    statuses = []
    with frozen_clock(clock.utcnow()):  # no wait runs out under load
        for _ in range(7):
            answer = await harness.client.post(
                "/api/me/password", json=body, headers=member.headers
            )
            statuses.append((answer.status_code, answer.json()["code"]))
        assert await _me(harness, caller=member) == 200
        right = {**body, "currentPassword": PASSWORD}
        refused = await harness.client.post("/api/me/password", json=right, headers=member.headers)
    assert statuses[0] == (403, "wrong_current_password")
    assert statuses[-1] == (429, "login_throttled")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


async def test_a_weak_admin_password_in_the_settings_stops_the_first_start_naming_it(
    make_harness: Harnesses,
) -> None:
    with pytest.raises(InvalidSettings, match="SWITCHBOARD_ADMIN_PASSWORD"):
        async with make_harness.running(admin_password="switchboard"):
            pass
