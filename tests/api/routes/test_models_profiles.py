"""Usage profiles decide which models are listed, by the same rule that admits a call."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.billing_builders import admin_team, seated_member, v1
from tests.support import AppHarness, Caller

pytestmark = pytest.mark.anyio


async def _profile(harness: AppHarness, **body: Any) -> str:
    made = await harness.client.post(
        "/api/usage-profiles", json={"name": "p", **body}, headers=harness.admin.headers
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def _listed(harness: AppHarness, caller: Caller) -> tuple[set[str], set[str]]:
    v1_list = await harness.client.get("/v1/models", headers=caller.headers)
    api_list = await harness.client.get("/api/models", headers=caller.headers)
    assert v1_list.status_code == 200 and api_list.status_code == 200
    return (
        {m["id"] for m in v1_list.json()["data"]},
        {m["id"] for m in api_list.json()["_embedded"]["models"]},
    )


async def test_every_listed_model_is_callable_and_every_unlisted_one_is_refused(
    harness: AppHarness,
) -> None:
    member = await seated_member(harness, "lia")
    # An alias in the profile allows the model it names.
    await _profile(
        harness, scope="user", scopeId=member.id, allowedModels=["fake-alias", "fake-backup"]
    )
    v1_ids, api_ids = await _listed(harness, member)
    assert v1_ids == {"fake", "fake-backup"}
    assert api_ids == v1_ids
    catalog = set(harness.services.catalog.models)
    for model in sorted(catalog):
        called = await v1(harness.client, member, model=model)
        one = await harness.client.get(f"/v1/models/{model}", headers=member.headers)
        api_one = await harness.client.get(f"/api/models/{model}", headers=member.headers)
        if model in v1_ids:
            assert called.status_code == 200, (model, called.text)
            assert one.status_code == 200 and api_one.status_code == 200
        else:
            assert called.status_code == 403, (model, called.text)
            assert called.json()["error"]["code"] == "model_not_allowed"
            assert one.status_code == 404 and api_one.status_code == 404


async def test_a_team_profile_filters_its_members_unless_their_own_profile_decides(
    harness: AppHarness,
) -> None:
    team_id = await admin_team(harness)
    member = await seated_member(harness, "ted")
    other = await seated_member(harness, "uma")
    await _profile(harness, scope="team", scopeId=team_id, allowedModels=["balanced"])
    await _profile(harness, scope="user", scopeId=other.id, allowedModels=None)
    v1_ids, api_ids = await _listed(harness, member)
    assert v1_ids == api_ids == {"balanced"}
    assert (await v1(harness.client, member, model="balanced")).status_code == 200
    assert (await v1(harness.client, member, model="fake")).status_code == 403
    own_v1, own_api = await _listed(harness, other)  # their own open profile decides
    assert "fake" in own_v1 and "fake" in own_api
    assert (await v1(harness.client, other, model="fake")).status_code == 200


async def test_without_profiles_every_model_is_listed_and_admins_manage_the_whole_catalog(
    harness: AppHarness,
) -> None:
    member = await seated_member(harness, "ned")
    before_v1, before_api = await _listed(harness, member)
    assert {"fake", "fake-backup", "balanced"} <= before_v1 and before_api >= before_v1
    await _profile(harness, scope="user", scopeId=harness.admin.id, allowedModels=["fake"])
    _, admin_api = await _listed(harness, harness.admin)
    assert "balanced" in admin_api  # the catalog admins manage
    admin_v1 = await harness.client.get("/v1/models", headers=harness.admin.headers)
    assert {m["id"] for m in admin_v1.json()["data"]} == {"fake"}  # what they may call
    picker = await harness.client.get(
        "/api/models", params={"usable": "true"}, headers=harness.admin.headers
    )
    assert {m["id"] for m in picker.json()["_embedded"]["models"]} == {"fake"}
    assert (await v1(harness.client, harness.admin, model="balanced")).status_code == 403
    assert (await _listed(harness, member)) == (before_v1, before_api)
