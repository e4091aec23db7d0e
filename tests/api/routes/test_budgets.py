"""Usage budgets, alerts and usage profiles over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.api.billing_builders import create_budget, ledger_rows, seated_member, v1
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness

pytestmark = pytest.mark.anyio


def _next_month(now: datetime) -> datetime:
    return datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)


async def test_a_request_over_budget_gets_402_naming_the_budget_and_never_reaches_the_provider(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    admin = harness.admin
    budget = await create_budget(
        harness, name="Tight", scope="user", scopeId=admin.id, limitMicros=5_000
    )
    chat_id = await harness.chat(admin)
    refusals = [
        await v1(harness.client, admin, max_tokens=300),
        await v1(harness.client, admin, max_tokens=300, stream=True),
        await harness.client.post(
            f"/api/chats/{chat_id}/messages",
            json={"content": "hi", "maxTokens": 300, "stream": True},
            headers=admin.headers,
        ),
    ]
    for response in refusals[:2]:  # /v1: OpenAI's 429 insufficient_quota
        assert response.status_code == 429, response.text
        error = response.json()["error"]
        assert (error["code"], error["type"]) == ("budget_exceeded", "insufficient_quota")
        assert "Tight" in error["message"]
    for response in refusals[2:]:
        assert response.status_code == 402, response.text
        error = response.json()
        assert error["code"] == "budget_exceeded" and "Tight" in error["message"]
        details = error["details"]
        assert details["budget"] == {
            "id": budget["id"],
            "name": "Tight",
            "scope": "user",
            "scopeId": admin.id,
        }
        assert (details["limitMicros"], details["spentMicros"], details["reservedMicros"]) == (
            5_000,
            0,
            0,
        )
        resets = datetime.fromisoformat(details["resetsAt"])
        assert (
            resets == _next_month(datetime.now(UTC)) == datetime.fromisoformat(budget["resetsAt"])
        )
    assert upstream.recorder.count() == 0
    assert not await ledger_rows(harness.services.sessions)
    # The refused turn left nothing in the chat (it is saved in the admission's transaction).
    messages = await harness.client.get(f"/api/chats/{chat_id}/messages", headers=admin.headers)
    assert messages.status_code == 200 and messages.json()["total"] == 0


async def test_a_budget_view_shows_the_current_period_spent_reserved_and_remaining(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", chunks=7, prompt_tokens=40)
    admin = harness.admin
    budget = await create_budget(
        harness, name="Month", scope="global", limitMicros=1_000_000, limitTokens=100_000
    )
    assert (budget["spentMicros"], budget["reservedMicros"], budget["remainingMicros"]) == (
        0,
        0,
        1_000_000,
    )
    assert (await v1(harness.client, admin)).status_code == 200
    assert (await v1(harness.client, admin, stream=True)).status_code == 200
    view = (
        await harness.client.get(f"/api/usage-budgets/{budget['id']}", headers=admin.headers)
    ).json()
    rows = await ledger_rows(harness.services.sessions)
    assert len(rows) == 2 and all(r.outcome == "completed" for r in rows)
    spent = sum(r.cost_micros for r in rows)
    assert spent == 2 * (40 * 10 + 7 * 30)
    assert (view["spentMicros"], view["reservedMicros"], view["remainingMicros"]) == (
        spent,
        0,
        1_000_000 - spent,
    )
    assert (view["spentTokens"], view["reservedTokens"]) == (2 * 47, 0)
    assert view["remainingTokens"] == 100_000 - 2 * 47
    assert datetime.fromisoformat(view["resetsAt"]) == _next_month(datetime.now(UTC))
    assert view["_links"]["self"]["href"] == f"/api/usage-budgets/{budget['id']}"


async def test_budgets_can_be_listed_changed_and_deleted_by_admins_only(
    harness: AppHarness,
) -> None:
    headers = harness.admin.headers
    member = await seated_member(harness, "mo")
    own = await create_budget(harness, name="Mo", scope="user", scopeId=member.id, limitMicros=9)
    other = await create_budget(
        harness, name="Admin", scope="user", scopeId=harness.admin.id, limitTokens=5
    )
    everyone = await create_budget(harness, name="All", scope="global", limitMicros=10**9)
    listed = await harness.client.get("/api/usage-budgets", headers=headers)
    assert [b["name"] for b in listed.json()["_embedded"]["usageBudgets"]] == ["Admin", "All", "Mo"]
    mine = await harness.client.get("/api/usage-budgets", headers=member.headers)
    assert {b["id"] for b in mine.json()["_embedded"]["usageBudgets"]} == {
        own["id"],
        everyone["id"],
    }
    hidden = await harness.client.get(f"/api/usage-budgets/{other['id']}", headers=member.headers)
    assert hidden.status_code == 404 and hidden.json()["code"] == "budget_not_found"
    seen = await harness.client.get(f"/api/usage-budgets/{own['id']}", headers=member.headers)
    assert seen.status_code == 200
    for method, body in (("PATCH", {"name": "x"}), ("DELETE", None)):
        denied = await harness.client.request(
            method, f"/api/usage-budgets/{own['id']}", json=body, headers=member.headers
        )
        assert denied.status_code == 403
    created = await harness.client.post(
        "/api/usage-budgets",
        json={"name": "x", "scope": "global", "limitMicros": 1},
        headers=member.headers,
    )
    assert created.status_code == 403
    changed = await harness.client.patch(
        f"/api/usage-budgets/{own['id']}",
        json={"limitMicros": None, "limitTokens": 50, "period": "day"},
        headers=headers,
    )
    assert changed.status_code == 200
    assert (changed.json()["limitMicros"], changed.json()["limitTokens"]) == (None, 50)
    emptied = await harness.client.patch(
        f"/api/usage-budgets/{own['id']}", json={"limitTokens": None}, headers=headers
    )
    assert emptied.status_code == 422 and emptied.json()["code"] == "invalid_budget"
    bad = await harness.client.post(
        "/api/usage-budgets", json={"name": "x", "scope": "team", "limitMicros": 1}, headers=headers
    )
    assert bad.status_code == 422
    gone = await harness.client.delete(f"/api/usage-budgets/{own['id']}", headers=headers)
    assert gone.status_code == 204
    again = await harness.client.get(f"/api/usage-budgets/{own['id']}", headers=headers)
    assert again.status_code == 404


async def test_a_soft_budget_crossing_its_threshold_raises_one_alert_and_refuses_nothing(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", chunks=4, prompt_tokens=100)
    admin = harness.admin
    budget = await create_budget(
        harness,
        name="Soft",
        scope="user",
        scopeId=admin.id,
        limitMicros=2_000,
        hard=False,
        thresholds=[0.5],
    )
    for _ in range(3):
        assert (await v1(harness.client, admin, max_tokens=300)).status_code == 200
    alerts = await harness.client.get("/api/usage-alerts", headers=admin.headers)
    found = alerts.json()["_embedded"]["usageAlerts"]
    assert sorted(a["threshold"] for a in found) == [0.5, 1.0]
    assert {a["budgetId"] for a in found} == {budget["id"]}
    member = await seated_member(harness, "nell")
    assert (
        await harness.client.get("/api/usage-alerts", headers=member.headers)
    ).status_code == 403


async def test_a_usage_profile_refuses_a_model_outside_it_before_any_provider_call(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    member = await seated_member(harness, "pia")
    headers = harness.admin.headers
    made = await harness.client.post(
        "/api/usage-profiles",
        json={
            "name": "Backup only",
            "scope": "user",
            "scopeId": member.id,
            "allowedModels": ["fake-backup"],
            "monthlyCapMicros": 50_000,
        },
        headers=headers,
    )
    assert made.status_code == 201, made.text
    profile_id = made.json()["id"]
    refused = await v1(harness.client, member)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "model_not_allowed"
    assert upstream.recorder.count() == 0
    cap = await harness.client.get(
        "/api/usage-budgets", params={"scopeId": member.id}, headers=headers
    )
    [budget] = cap.json()["_embedded"]["usageBudgets"]
    assert (budget["limitMicros"], budget["period"], budget["profileId"]) == (
        50_000,
        "month",
        profile_id,
    )
    opened = await harness.client.patch(
        f"/api/usage-profiles/{profile_id}", json={"allowedModels": None}, headers=headers
    )
    assert opened.status_code == 200 and opened.json()["allowedModels"] is None
    assert (await v1(harness.client, member)).status_code == 200
    duplicate = await harness.client.post(
        "/api/usage-profiles",
        json={"name": "again", "scope": "user", "scopeId": member.id},
        headers=headers,
    )
    assert duplicate.status_code == 409
    listed = await harness.client.get("/api/usage-profiles", headers=headers)
    assert listed.json()["total"] == 1
    assert (
        await harness.client.get("/api/usage-profiles", headers=member.headers)
    ).status_code == 403
    removed = await harness.client.delete(f"/api/usage-profiles/{profile_id}", headers=headers)
    assert removed.status_code == 204
    after = await harness.client.get(
        "/api/usage-budgets", params={"scopeId": member.id}, headers=headers
    )
    assert after.json()["total"] == 0


async def test_admin_only_budgets_profiles_and_overrides_are_403_for_members_before_any_404(
    harness: AppHarness,
) -> None:
    member = await harness.member("curious")
    cases = [
        ("PATCH", "/api/usage-budgets/nope", {"name": "x"}, "budget_not_found"),
        ("DELETE", "/api/usage-budgets/nope", None, "budget_not_found"),
        ("GET", "/api/usage-profiles/nope", None, "usage_profile_not_found"),
        ("PATCH", "/api/usage-profiles/nope", {"monthlyCapMicros": 5}, "usage_profile_not_found"),
        ("DELETE", "/api/usage-profiles/nope", None, "usage_profile_not_found"),
        ("GET", "/api/rate-limits/nope", None, "rate_limit_override_not_found"),
        (
            "PATCH",
            "/api/rate-limits/nope",
            {"requestsPerMinute": 5},
            "rate_limit_override_not_found",
        ),
        ("DELETE", "/api/rate-limits/nope", None, "rate_limit_override_not_found"),
    ]
    for method, path, body, code in cases:
        denied = await harness.client.request(method, path, json=body, headers=member.headers)
        assert denied.status_code == 403, (method, path, denied.text)
        missing = await harness.client.request(
            method, path, json=body, headers=harness.admin.headers
        )
        assert missing.status_code == 404, (method, path, missing.text)
        assert missing.json()["code"] == code, (method, path)
    unknown = await harness.client.get("/api/usage-budgets/nope", headers=member.headers)
    assert unknown.status_code == 404 and unknown.json()["code"] == "budget_not_found"
