"""Usage trends: per month, top consumers, and names beside the ids of usage rows and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.billing_builders import admin_team, seated_member, v1
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Caller, eventually, frozen_clock

pytestmark = pytest.mark.anyio


async def _calls(harness: AppHarness, at: datetime, *calls: tuple[Caller, str]) -> None:
    with frozen_clock(at):
        for caller, model in calls:
            response = await v1(harness.client, caller, model=model)
            assert response.status_code == 200, response.text


async def _team_name(harness: AppHarness, team_id: str) -> str:
    team = await harness.client.get(f"/api/teams/{team_id}", headers=harness.admin.headers)
    return str(team.json()["name"])


def _months(body: dict[str, Any]) -> list[tuple[str, str | None, str, int, int]]:
    return [
        (m["month"], m["teamName"], m["model"], m["requests"], m["costMicros"])
        for m in body["_embedded"]["months"]
    ]


async def test_monthly_usage_sums_each_month_team_and_model_and_members_see_only_their_own(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    admin, client = harness.admin, harness.client
    member = await seated_member(harness, "mona")
    team = await _team_name(harness, await admin_team(harness))
    march, april = datetime(2026, 3, 31, 23, 59, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    await _calls(harness, march, (admin, "fake"), (member, "fake"))
    await _calls(harness, april, (admin, "fake"), (admin, "fake-backup"))
    await _calls(harness, datetime(2026, 6, 2, tzinfo=UTC), (admin, "fake"))
    params = {"from": "2026-03", "to": "2026-04"}
    everyone = await client.get("/api/usage/monthly", params=params, headers=admin.headers)
    assert everyone.status_code == 200, everyone.text
    body = everyone.json()
    assert (body["from"], body["to"]) == ("2026-03", "2026-04")
    months = _months(body)
    cost = months[1][4]  # of one call: every call here asks the same
    assert cost > 0 and months == [
        ("2026-03", team, "fake", 2, 2 * cost),
        ("2026-04", team, "fake", 1, cost),
        ("2026-04", team, "fake-backup", 1, cost),
    ]
    only_fake = await client.get(
        "/api/usage/monthly", params={**params, "model": "fake"}, headers=admin.headers
    )
    assert [m[2] for m in _months(only_fake.json())] == ["fake", "fake"]
    one_user = await client.get(
        "/api/usage/monthly", params={**params, "user": member.id}, headers=admin.headers
    )
    assert _months(one_user.json()) == [("2026-03", team, "fake", 1, cost)]
    # A member asking for someone else's usage gets their own, as GET /api/usage does.
    for asked in ({}, {"user": admin.id}):
        mine = await client.get(
            "/api/usage/monthly", params={**params, **asked}, headers=member.headers
        )
        assert _months(mine.json()) == [("2026-03", team, "fake", 1, cost)]
    other = await harness.member("otto")
    nothing = await client.get("/api/usage/monthly", params=params, headers=other.headers)
    assert nothing.status_code == 200 and nothing.json()["total"] == 0
    june = await client.get(
        "/api/usage/monthly", params={"from": "2026-06", "to": "2026-06"}, headers=admin.headers
    )
    assert _months(june.json()) == [("2026-06", team, "fake", 1, cost)]


async def test_monthly_usage_refuses_bad_months_with_422(harness: AppHarness) -> None:
    for params in (
        {"from": "2026-13"},
        {"from": "March"},
        {"to": "2026-1"},
        {"from": "2026-05", "to": "2026-04"},
        {"from": "2000-01", "to": "2026-04"},
    ):
        response = await harness.client.get(
            "/api/usage/monthly", params=params, headers=harness.admin.headers
        )
        assert response.status_code == 422, (params, response.text)
        assert response.json()["code"] == "invalid_input"


async def test_top_consumers_rank_users_teams_tokens_and_assistants_by_cost_with_names(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    admin, client = harness.admin, harness.client
    member = await seated_member(harness, "tess")
    made = await client.post(
        "/api/assistants", json={"name": "Scribe", "instructions": "Write."}, headers=admin.headers
    )
    assert made.status_code == 201, made.text
    assistant_id = made.json()["id"]
    chat_id = await harness.chat(admin, assistantId=assistant_id)
    said = await client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "hi"}, headers=admin.headers
    )
    assert said.status_code == 201, said.text
    for _ in range(2):
        assert (await v1(client, member)).status_code == 200

    async def ranked() -> list[dict[str, Any]]:
        response = await client.get(
            "/api/usage/top-consumers", params={"period": "day"}, headers=admin.headers
        )
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["assistants"]
        return found  # empty until the chat's ledger row is there

    assert await eventually(ranked, seconds=10)
    day = await client.get(
        "/api/usage/top-consumers", params={"period": "day"}, headers=admin.headers
    )
    body = day.json()
    assert body["period"] == "day"
    users = [(u["name"], u["requests"]) for u in body["users"]]
    assert users == [("tess", 2), (admin.username, 1)]
    assert [(t["name"], t["requests"]) for t in body["teams"]] == [
        (await _team_name(harness, await admin_team(harness)), 3)
    ]
    assert [(a["id"], a["name"]) for a in body["assistants"]] == [(assistant_id, "Scribe")]
    # Each caller's API token (the admin's chat went through theirs too), by cost.
    assert [(t["name"], t["requests"]) for t in body["apiTokens"]] == [("test", 2), ("test", 1)]
    top = await client.get(
        "/api/usage/top-consumers", params={"period": "month", "limit": 1}, headers=admin.headers
    )
    assert [u["name"] for u in top.json()["users"]] == ["tess"]
    past = await client.get(
        "/api/usage/top-consumers",
        params={"from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z"},
        headers=admin.headers,
    )
    assert past.json()["users"] == [] and past.json()["period"] is None


async def test_top_consumers_are_for_admins_and_refuse_bad_periods_and_limits(
    harness: AppHarness,
) -> None:
    member = await harness.member("meg")
    refused = await harness.client.get("/api/usage/top-consumers", headers=member.headers)
    assert refused.status_code == 403
    for params in (
        {"period": "year"},
        {"limit": 0},
        {"limit": 101},
        {"limit": "many"},
        {"period": "day", "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"},
        {"from": "2026-01-01T00:00:00Z"},
        {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "soon", "to": "later"},
    ):
        response = await harness.client.get(
            "/api/usage/top-consumers", params=params, headers=harness.admin.headers
        )
        assert response.status_code == 422, (params, response.text)
        assert response.json()["code"] == "invalid_input"


async def test_usage_rows_and_csv_carry_names_beside_ids(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    admin, client = harness.admin, harness.client
    team_id = await admin_team(harness)
    team = await _team_name(harness, team_id)
    assert (await v1(client, admin)).status_code == 200
    params = {"groupBy": "user,team,apiToken,model"}
    rows = await client.get("/api/usage", params=params, headers=admin.headers)
    [row] = rows.json()["_embedded"]["usage"]
    assert row["group"]["user"] == admin.id and row["group"]["team"] == team_id
    assert row["names"] == {"user": admin.username, "team": team, "apiToken": "test"}
    exported = await client.get(
        "/api/usage", params=params, headers={**admin.headers, "Accept": "text/csv"}
    )
    [header, line] = list(csv.reader(io.StringIO(exported.text)))
    assert header[:7] == [
        "user",
        "userName",
        "team",
        "teamName",
        "apiToken",
        "apiTokenName",
        "model",
    ]
    assert line[:7] == [admin.id, admin.username, team_id, team, line[4], "test", "fake"]
