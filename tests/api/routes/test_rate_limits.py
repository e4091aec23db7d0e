"""Rate limits over HTTP: 429 with Retry-After and X-RateLimit-* headers, per user, overridable."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.billing_builders import seated_member, v1
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Harnesses

pytestmark = pytest.mark.anyio


@pytest.fixture
async def limited(make_harness: Harnesses) -> AppHarness:
    """An app whose users may make 60 model calls a minute."""
    return await make_harness(rate_limit_user_rpm=60)


async def test_two_hundred_requests_against_sixty_a_minute_admit_sixty_and_spare_another_user(
    limited: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", chunks=2)
    other = await seated_member(limited, "olga")
    flood = limited.admin
    responses = await asyncio.gather(*(v1(limited.client, flood) for _ in range(200)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 60 + [429] * 140
    assert upstream.recorder.count("fake") == 60
    for refused in (r for r in responses if r.status_code == 429):
        assert refused.json()["error"]["code"] == "rate_limited"  # /v1: OpenAI's shape
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-RateLimit-Limit"] == "60"
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        assert 1 <= int(refused.headers["X-RateLimit-Reset"]) <= 60
    spared = await v1(limited.client, other)
    assert spared.status_code == 200, spared.text


async def test_a_users_override_sets_their_own_limit_and_lifting_it_restores_the_default(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    member = await seated_member(harness, "rita")
    headers = harness.admin.headers
    made = await harness.client.post(
        "/api/rate-limits",
        json={"scope": "user", "scopeId": member.id, "requestsPerMinute": 2},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    override = made.json()
    assert [(await v1(harness.client, member)).status_code for _ in range(2)] == [200, 200]
    refused = await v1(harness.client, member)
    assert refused.status_code == 429 and refused.headers["X-RateLimit-Limit"] == "2"
    assert refused.json()["error"]["code"] == "rate_limited"
    assert (await v1(harness.client, harness.admin)).status_code == 200
    duplicate = await harness.client.post(
        "/api/rate-limits", json={"scope": "user", "scopeId": member.id}, headers=headers
    )
    assert duplicate.status_code == 409
    listed = await harness.client.get("/api/rate-limits", headers=headers)
    assert [o["id"] for o in listed.json()["_embedded"]["rateLimits"]] == [override["id"]]
    raised = await harness.client.patch(
        f"/api/rate-limits/{override['id']}", json={"requestsPerMinute": None}, headers=headers
    )
    assert raised.status_code == 200 and raised.json()["requestsPerMinute"] is None
    assert (await v1(harness.client, member)).status_code == 200
    assert (await harness.client.get("/api/rate-limits", headers=member.headers)).status_code == 403
    removed = await harness.client.delete(f"/api/rate-limits/{override['id']}", headers=headers)
    assert removed.status_code == 204
    missing = await harness.client.get(f"/api/rate-limits/{override['id']}", headers=headers)
    assert missing.status_code == 404
