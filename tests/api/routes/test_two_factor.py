"""Two-factor sign-in: enrolling, signing in with a code (wrong and replayed codes refused),
single-use recovery codes, turning it off, and the setting that requires it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest

from core import clock
from tests.support import ADMIN, PASSWORD, AppHarness, Caller, Harnesses, frozen_clock

pytestmark = pytest.mark.anyio
STEP = timedelta(seconds=30)


async def _login(harness: AppHarness, username: str, code: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"username": username, "password": PASSWORD}
    if code is not None:
        body["code"] = code
    harness.client.cookies.clear()
    return await harness.client.post("/api/auth/login", json=body)


async def _enrol(
    harness: AppHarness, caller: Caller, at: datetime | None = None
) -> tuple[pyotp.TOTP, list[str]]:
    """Enrol the caller's authenticator (with the code of `at`, default now); returns it and
    the recovery codes."""
    started = await harness.client.post("/api/users/me/two-factor/_enrol", headers=caller.headers)
    assert started.status_code == 200, started.text
    enrolment = started.json()
    assert enrolment["otpauthUri"].startswith("otpauth://totp/Switchboard:")
    totp = pyotp.TOTP(enrolment["secret"])
    confirmed = await harness.client.post(
        "/api/users/me/two-factor/_confirm",
        json={"code": totp.at(at or clock.utcnow())},
        headers=caller.headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    return totp, confirmed.json()["recoveryCodes"]


async def _kinds(harness: AppHarness, **params: str) -> list[str]:
    response = await harness.client.get(
        "/api/audit-events", params=params, headers=harness.admin.headers
    )
    return [e["kind"] for e in response.json()["_embedded"]["auditEvents"]]


async def test_a_sign_in_needs_the_current_code_once_and_refuses_wrong_and_replayed_ones(
    harness: AppHarness,
) -> None:
    ann = await harness.member("ann")
    now = clock.utcnow()
    with frozen_clock(now):
        first = await harness.client.post("/api/users/me/two-factor/_enrol", headers=ann.headers)
        assert first.status_code == 200  # an unconfirmed enrolment is replaced by the next
        totp, recovery = await _enrol(harness, ann, now)
        assert len(recovery) == 10 and len(set(recovery)) == 10
        assert (await _login(harness, "ann")).json()["code"] == "two_factor_required"
        near = {totp.at(now + n * STEP) for n in (-1, 0, 1)}
        bad = next(c for c in ("000000", "111111", "222222") if c not in near)
        refused = await _login(harness, "ann", bad)
        assert refused.status_code == 401 and refused.json()["code"] == "invalid_two_factor_code"
        # the step that confirmed enrolment is spent: its code is a replay
        assert (await _login(harness, "ann", totp.at(now))).status_code == 401
    with frozen_clock(now + STEP):
        code = totp.at(now + STEP)
        signed_in = await _login(harness, "ann", code)
        assert signed_in.status_code == 200, signed_in.text
        assert (await _login(harness, "ann", code)).status_code == 401  # replayed
        assert (await _login(harness, "ann", totp.at(now))).status_code == 401  # older step
    status = await harness.client.get("/api/users/me/two-factor", headers=ann.headers)
    assert status.json() == {
        "enabled": True,
        "enrolling": False,
        "required": False,
        "recoveryCodesLeft": 10,
    }
    kinds = await _kinds(harness, actor=ann.id)
    assert "two_factor.enabled" in kinds and "sign_in.succeeded" in kinds
    failures = await harness.client.get(
        "/api/audit-events",
        params={"actor": ann.id, "kind": "sign_in.failed"},
        headers=harness.admin.headers,
    )
    events = failures.json()["_embedded"]["auditEvents"]
    wrong = [e["count"] for e in events if e["details"]["reason"] == "invalid_two_factor_code"]
    assert sum(wrong) == 4  # coalesced: repeats from one address count on one event


async def test_a_recovery_code_signs_in_once_and_two_factor_turns_off_with_the_password(
    harness: AppHarness,
) -> None:
    bob = await harness.member("bob")
    _, recovery = await _enrol(harness, bob)
    typed = recovery[0].upper().replace("-", " ")  # as a person might type it
    assert (await _login(harness, "bob", typed)).status_code == 200
    assert (await _login(harness, "bob", recovery[0])).status_code == 401
    assert (await _login(harness, "bob", recovery[1])).status_code == 200
    off = await harness.client.request(
        "DELETE", "/api/users/me/two-factor", json={"password": "wrong"}, headers=bob.headers
    )
    assert off.status_code == 403 and off.json()["code"] == "wrong_current_password"
    off = await harness.client.request(
        "DELETE", "/api/users/me/two-factor", json={"password": PASSWORD}, headers=bob.headers
    )
    assert off.status_code == 204
    assert (await _login(harness, "bob")).status_code == 200
    assert "two_factor.disabled" in await _kinds(harness, actor=bob.id)


async def test_when_required_for_admins_an_admin_can_only_enrol_until_they_have(
    make_harness: Harnesses,
) -> None:
    harness = await make_harness(two_factor_required="admins")
    await harness.member("member")
    assert (await _login(harness, "member")).status_code == 200
    first = await _login(harness, ADMIN)
    assert first.status_code == 403, first.text
    body = first.json()
    assert body["code"] == "two_factor_enrolment_required"
    assert "switchboard_session" not in first.cookies
    secret = body["details"]["secret"]
    assert (await _login(harness, ADMIN)).json()["details"]["secret"] == secret  # kept
    done = await _login(harness, ADMIN, pyotp.TOTP(secret).now())
    assert done.status_code == 200, done.text
    assert len(done.json()["recoveryCodes"]) == 10
    assert (await _login(harness, ADMIN)).json()["code"] == "two_factor_required"
    off = await harness.client.request(
        "DELETE",
        "/api/users/me/two-factor",
        json={"password": PASSWORD},
        headers=harness.admin.headers,
    )
    assert off.status_code == 403 and off.json()["code"] == "two_factor_required_by_policy"


async def test_wrong_codes_are_throttled_like_wrong_passwords(harness: AppHarness) -> None:
    cy = await harness.member("cy")
    now = clock.utcnow()
    with frozen_clock(now):
        totp, _ = await _enrol(harness, cy, now)
        near = {totp.at(now + n * STEP) for n in (-1, 0, 1, 2)}
        bad = next(c for c in ("000000", "111111", "222222") if c not in near)
        statuses = [(await _login(harness, "cy", bad)).status_code for _ in range(5)]
        assert statuses == [401] * 5
        refused = await _login(harness, "cy", totp.at(now + STEP))
    assert refused.status_code == 429 and refused.json()["code"] == "login_throttled"
