"""Models admins add at run time: CRUD, models.yaml read-only, chat and billing through a stored
model, team blocks, and a change seen by a second app over the same database."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.api.billing_builders import admin_team, completion, ledger_rows, seated_member
from tests.fakes.upstream import FakeUpstream
from tests.support import (
    AppHarness,
    Caller,
    Harnesses,
    eventually,
    fresh_database_url,
    make_catalog,
)

pytestmark = pytest.mark.anyio


async def stored_model(harness: AppHarness, upstream: FakeUpstream, **body: Any) -> dict[str, Any]:
    """A provider on the fake upstream and a model through it ($2 / $5 per million by default)."""
    provider = await harness.client.post(
        "/api/providers",
        json={
            "name": f"fake-{body['name']}",
            "type": "openai-compatible",
            "apiBase": upstream.base_url,
            "apiKey": "test-key",
        },
        headers=harness.admin.headers,
    )
    assert provider.status_code == 201, provider.text
    values = {
        "providerId": provider.json()["id"],
        "model": "house-upstream",
        "inputCostPerMillionTokens": 2,
        "outputCostPerMillionTokens": 5,
        **body,
    }
    made = await harness.client.post("/api/models", json=values, headers=harness.admin.headers)
    assert made.status_code == 201, made.text
    model: dict[str, Any] = made.json()
    return model


async def listed(harness: AppHarness, caller: Caller) -> dict[str, dict[str, Any]]:
    response = await harness.client.get("/api/models", headers=caller.headers)
    assert response.status_code == 200, response.text
    return {m["id"]: m for m in response.json()["_embedded"]["models"]}


async def say(harness: AppHarness, caller: Caller, model: str) -> httpx.Response:
    """One chat turn with a model; returns the response."""
    chat_id = await harness.chat(caller)
    return await harness.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "hi", "model": model},
        headers=caller.headers,
    )


async def test_admin_adds_updates_and_deletes_a_model_marked_as_from_the_database(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    client, headers = harness.client, harness.admin.headers
    made = await stored_model(
        harness, upstream, name="house", aliases=["house-alias"], contextWindow=32000
    )
    assert made["source"] == "database" and made["createdBy"] == harness.admin.id
    assert made["inputCostPerMillionTokens"] == 2 and made["outputCostPerMillionTokens"] == 5
    assert made["maxInputTokens"] == 32000 and made["aliases"] == ["house-alias"]
    models = await listed(harness, harness.admin)
    assert models["house"]["source"] == "database" and models["fake"]["source"] == "file"
    assert "test-key" not in str(models)
    via_alias = await client.get("/api/models/house-alias", headers=headers)
    assert via_alias.json()["id"] == "house" and via_alias.json()["model"] == "house-upstream"
    changed = await client.patch(
        "/api/models/house",
        json={"outputCostPerMillionTokens": 7.5, "description": "Ours"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["outputCostPerMillionTokens"] == 7.5
    assert changed.json()["description"] == "Ours"
    assert (await client.delete("/api/models/house", headers=headers)).status_code == 204
    assert (await client.get("/api/models/house", headers=headers)).status_code == 404


async def test_models_from_models_yaml_are_read_only(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    client, headers = harness.client, harness.admin.headers
    for response in (
        await client.patch("/api/models/fake", json={"description": "x"}, headers=headers),
        await client.delete("/api/models/fake-alias", headers=headers),
    ):
        assert response.status_code == 409 and response.json()["code"] == "model_read_only"
    provider = (
        await client.post("/api/providers", json={"name": "p", "type": "openai"}, headers=headers)
    ).json()
    for name, aliases in (("fake", []), ("mine", ["fake-alias"])):
        clash = await client.post(
            "/api/models",
            json={"name": name, "aliases": aliases, "providerId": provider["id"], "model": "m"},
            headers=headers,
        )
        assert clash.status_code == 409 and clash.json()["code"] == "model_name_taken"
    member = await harness.member("moe")
    refused = await client.post(
        "/api/models",
        json={"name": "m2", "providerId": provider["id"], "model": "m"},
        headers=member.headers,
    )
    assert refused.status_code == 403
    unknown = await client.post(
        "/api/models", json={"name": "m3", "providerId": "nope", "model": "m"}, headers=headers
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_provider"


async def test_a_stored_model_chats_end_to_end_and_is_billed_at_its_own_prices(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    await stored_model(harness, upstream, name="house", aliases=["house-alias"])
    upstream.behave(
        "house-upstream", text="Hello from the house model.", chunks=3, prompt_tokens=1000
    )
    answer = await say(harness, harness.admin, "house")
    assert answer.status_code == 201, answer.text
    assert upstream.recorder.count("house-upstream") == 1
    v1 = await harness.client.post(
        "/v1/chat/completions", json=completion(model="house-alias"), headers=harness.admin.headers
    )
    assert v1.status_code == 200, v1.text
    assert v1.json()["model"] == "house"
    rows = [r for r in await ledger_rows(harness.services.sessions) if r.model == "house"]
    assert len(rows) == 2
    for row in rows:
        assert row.prompt_tokens > 0 and row.completion_tokens > 0
        # $2 / $5 per million tokens: 2 and 5 micro-dollars a token, not the file's 10 / 30.
        assert row.cost_micros == 2 * row.prompt_tokens + 5 * row.completion_tokens


async def test_a_model_turned_off_for_a_team_is_refused_to_its_members_and_unlisted(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    client, headers = harness.client, harness.admin.headers
    member = await seated_member(harness, "tia")
    team_id = await admin_team(harness)
    assert (await say(harness, member, "fake")).status_code == 201
    off = await client.delete(f"/api/teams/{team_id}/models/fake-alias", headers=headers)
    assert off.status_code == 204, off.text
    refused = await say(harness, member, "fake")
    assert refused.status_code == 403 and refused.json()["code"] == "model_disabled"
    v1 = await client.post("/v1/chat/completions", json=completion(), headers=member.headers)
    assert v1.status_code == 403 and "model_disabled" in v1.text
    assert "fake" not in await listed(harness, member)
    assert (await client.get("/api/models/fake", headers=member.headers)).status_code == 404
    v1_models = await client.get("/v1/models", headers=member.headers)
    v1_ids = {m["id"] for m in v1_models.json()["data"]}
    assert "fake" not in v1_ids and "balanced" in v1_ids
    team_view = await client.get(f"/api/teams/{team_id}/models", headers=headers)
    states = {m["modelId"]: m["enabled"] for m in team_view.json()["_embedded"]["teamModels"]}
    assert states["fake"] is False and states["balanced"] is True
    assert (await listed(harness, harness.admin))["fake"]["disabledTeams"] == [team_id]
    on = await client.put(f"/api/teams/{team_id}/models/fake", headers=headers)
    assert on.status_code == 201 and on.json()["enabled"] is True
    assert (await say(harness, member, "fake")).status_code == 201
    assert (
        await client.put(f"/api/teams/{team_id}/models/fake", headers=headers)
    ).status_code == 200


async def test_a_stored_model_turned_off_is_refused_and_hidden_from_members(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    member = await seated_member(harness, "ole")
    await stored_model(harness, upstream, name="house", enabled=False)
    refused = await say(harness, member, "house")
    assert refused.status_code == 403 and refused.json()["code"] == "model_disabled"
    assert "house" not in await listed(harness, member)
    assert (await listed(harness, harness.admin))["house"]["enabled"] is False
    await harness.client.patch(
        "/api/models/house", json={"enabled": True}, headers=harness.admin.headers
    )
    assert (await say(harness, member, "house")).status_code == 201


async def _seconds_until(check: Callable[[], Awaitable[bool]], seconds: float) -> float:
    """Poll `check` until true; returns how long it took (fails after `seconds`)."""
    started = time.monotonic()
    await eventually(check, seconds=seconds, interval=0.05)
    return time.monotonic() - started


async def test_a_model_added_through_one_app_is_usable_through_another_within_seconds(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    # Two app instances over one database and data directory, each with its own catalog object.
    same = {"database_url": fresh_database_url(), "catalog_poll_seconds": 1.0}
    async with (
        make_harness.running(catalog=make_catalog(upstream.base_url), **same) as one,
        make_harness.running(catalog=make_catalog(upstream.base_url), **same) as two,
    ):
        assert "house" not in await listed(two, two.admin)
        await stored_model(one, upstream, name="house")

        async def seen_by_two() -> bool:
            return "house" in await listed(two, two.admin)

        waited = await _seconds_until(seen_by_two, seconds=10)
        assert waited < 5
        upstream.behave("house-upstream", text="From the other worker.", chunks=2)
        answer = await say(two, two.admin, "house")
        assert answer.status_code == 201, answer.text
        assert upstream.recorder.count("house-upstream") == 1
        team_id = await admin_team(one)
        await one.client.delete(f"/api/teams/{team_id}/models/house", headers=one.admin.headers)

        async def refused_by_two() -> bool:
            status: int = (await say(two, two.admin, "house")).status_code
            return status == 403

        await _seconds_until(refused_by_two, seconds=10)
