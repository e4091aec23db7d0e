"""Providers admins manage at run time: CRUD, sealed keys, `_test`, and models.yaml read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from api.app import create_app
from core import providers
from core.database import write_transaction
from core.errors import InvalidCatalog
from tests.fakes.upstream import FakeUpstream
from tests.support import (
    AppHarness,
    Harnesses,
    app_settings,
    loopback_socket,
    make_catalog,
    port_of,
)

pytestmark = pytest.mark.anyio

SECRET = "sk-plaintext-that-must-never-be-stored-7f3a9c"


async def add_provider(harness: AppHarness, **body: Any) -> dict[str, Any]:
    """Add a provider as the admin; returns its view."""
    response = await harness.client.post("/api/providers", json=body, headers=harness.admin.headers)
    assert response.status_code == 201, response.text
    provider: dict[str, Any] = response.json()
    return provider


async def test_admin_creates_reads_updates_and_deletes_a_provider_without_ever_seeing_its_key(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    client, headers = harness.client, harness.admin.headers
    made = await add_provider(
        harness,
        name="House vLLM",
        type="openai-compatible",
        apiBase=upstream.base_url,
        apiKey=SECRET,
    )
    assert made["hasApiKey"] is True and made["source"] == "database"
    assert made["createdBy"] == harness.admin.id and made["updatedAt"]
    assert made["_links"]["test"]["href"] == f"/api/providers/{made['id']}/_test"
    listed = await client.get("/api/providers", headers=headers)
    by_id = {p["id"]: p for p in listed.json()["_embedded"]["providers"]}
    assert by_id[made["id"]]["name"] == "House vLLM" and by_id["openai"]["source"] == "file"
    changed = await client.patch(
        f"/api/providers/{made['id']}", json={"name": "House", "apiKey": None}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "House" and changed.json()["hasApiKey"] is False
    one = await client.get(f"/api/providers/{made['id']}", headers=headers)
    assert one.json()["name"] == "House"
    for response in (made, listed.json(), changed.json(), one.json()):
        assert SECRET not in str(response)
    assert (await client.delete(f"/api/providers/{made['id']}", headers=headers)).status_code == 204
    gone = await client.get(f"/api/providers/{made['id']}", headers=headers)
    assert gone.status_code == 404 and gone.json()["code"] == "provider_not_found"


async def test_a_provider_key_is_sealed_in_the_database(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    made = await add_provider(
        harness, name="sealed", type="openai", apiBase=upstream.base_url, apiKey=SECRET
    )
    async with harness.services.sessions() as session:
        raw = await session.scalar(
            text("SELECT sealed_credentials FROM core_provider WHERE id = :id"), {"id": made["id"]}
        )
    assert raw and SECRET not in raw and SECRET[-12:] not in raw
    if harness.services.engine.dialect.name == "sqlite":
        files = list(harness.services.settings.data_dir.glob("switchboard.db*"))
        stored = b"".join(path.read_bytes() for path in files)
        assert b"sealed" in stored  # the provider row is in the file ...
        assert SECRET.encode() not in stored  # ... its key is not, in any form we wrote
        assert SECRET[-12:].encode() not in stored


async def test_members_read_providers_but_only_admins_change_them(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    made = await add_provider(harness, name="p", type="openai", apiKey=SECRET)
    member = await harness.member("mia")
    client, headers = harness.client, member.headers
    assert (await client.get("/api/providers", headers=headers)).status_code == 200
    attempts = [
        await client.post("/api/providers", json={"name": "x", "type": "openai"}, headers=headers),
        await client.patch(f"/api/providers/{made['id']}", json={"name": "y"}, headers=headers),
        await client.delete(f"/api/providers/{made['id']}", headers=headers),
        await client.post(f"/api/providers/{made['id']}/_test", headers=headers),
    ]
    assert [a.status_code for a in attempts] == [403, 403, 403, 403]


async def test_providers_behind_models_yaml_are_read_only(harness: AppHarness) -> None:
    client, headers = harness.client, harness.admin.headers
    patched = await client.patch("/api/providers/openai", json={"name": "x"}, headers=headers)
    deleted = await client.delete("/api/providers/openai", headers=headers)
    for response in (patched, deleted):
        assert response.status_code == 409 and response.json()["code"] == "provider_read_only"


async def test_bad_provider_input_is_a_422_naming_the_problem(harness: AppHarness) -> None:
    client, headers = harness.client, harness.admin.headers
    no_base = await client.post(
        "/api/providers", json={"name": "v", "type": "openai-compatible"}, headers=headers
    )
    assert no_base.status_code == 422 and no_base.json()["code"] == "api_base_required"
    bad_type = await client.post(
        "/api/providers", json={"name": "v", "type": "carrier-pigeon"}, headers=headers
    )
    assert bad_type.status_code == 422
    for base in ("http://[", "http://[::1", "http://:80/v1"):  # found by the schema fuzz: a 500
        broken = await client.post(
            "/api/providers",
            json={"name": "v", "type": "openai-compatible", "apiBase": base},
            headers=headers,
        )
        assert broken.status_code == 422, (base, broken.text)
        patched = await client.patch(
            "/api/providers/anything", json={"apiBase": base}, headers=headers
        )
        assert patched.status_code == 422, (base, patched.text)
    await add_provider(harness, name="twice", type="openai")
    again = await client.post(
        "/api/providers", json={"name": "TWICE", "type": "openai"}, headers=headers
    )
    assert again.status_code == 409 and again.json()["code"] == "provider_name_taken"


async def test_provider_test_makes_one_tiny_call_through_the_fake_upstream(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    made = await add_provider(
        harness, name="up", type="openai-compatible", apiBase=upstream.base_url, apiKey=SECRET
    )
    response = await harness.client.post(
        f"/api/providers/{made['id']}/_test", json={"model": "probe"}, headers=harness.admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True and response.json()["reason"] is None
    sent = [r for r in upstream.recorder.requests if r.get("model") == "probe"]
    assert len(sent) == 1 and sent[0]["max_tokens"] == 1


async def test_provider_test_against_a_closed_port_says_why_in_a_200(harness: AppHarness) -> None:
    with loopback_socket() as sock:  # bound, never listening: refused, and no one else's port
        closed = f"http://127.0.0.1:{port_of(sock)}/v1"
        made = await add_provider(harness, name="down", type="openai-compatible", apiBase=closed)
        response = await harness.client.post(
            f"/api/providers/{made['id']}/_test",
            json={"model": "any"},
            headers=harness.admin.headers,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False and body["reason"].startswith("Could not reach the provider")
    assert closed in body["reason"]


async def test_a_provider_behind_models_yaml_can_be_tested_too(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    response = await harness.client.post(
        "/api/providers/openai/_test", json={"model": "yaml-probe"}, headers=harness.admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True and response.json()["model"] == "yaml-probe"
    assert upstream.recorder.count("yaml-probe") == 1


async def test_provider_test_without_a_model_to_call_asks_for_one(harness: AppHarness) -> None:
    made = await add_provider(harness, name="empty", type="openai", apiKey=SECRET)
    response = await harness.client.post(
        f"/api/providers/{made['id']}/_test", headers=harness.admin.headers
    )
    assert response.status_code == 422 and response.json()["code"] == "test_model_required"


async def test_a_provider_its_models_use_cannot_be_deleted(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    made = await add_provider(harness, name="used", type="openai", apiBase=upstream.base_url)
    model = await harness.client.post(
        "/api/models",
        json={"name": "user-of-provider", "providerId": made["id"], "model": "fake"},
        headers=harness.admin.headers,
    )
    assert model.status_code == 201, model.text
    refused = await harness.client.delete(
        f"/api/providers/{made['id']}", headers=harness.admin.headers
    )
    assert refused.status_code == 409 and refused.json()["code"] == "provider_in_use"
    assert refused.json()["details"]["models"] == ["user-of-provider"]


async def test_only_admins_see_a_providers_internal_api_base(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    made = await add_provider(
        harness, name="House vLLM", type="openai-compatible", apiBase=upstream.base_url
    )
    member = await harness.member("mia")
    client, href = harness.client, f"/api/providers/{made['id']}"
    as_member = [
        (await client.get(href, headers=member.headers)).json(),
        *(await client.get("/api/providers", headers=member.headers)).json()["_embedded"][
            "providers"
        ],
        (await client.get("/api/models", headers=member.headers)).json(),
        (await client.get("/v1/models", headers=member.headers)).json(),
    ]
    for body in as_member:
        assert "apiBase" not in body and upstream.base_url not in str(body)
    assert (await client.get(href, headers=harness.admin.headers)).json()["apiBase"] == (
        upstream.base_url
    )
    listed = await client.get("/api/providers", headers=harness.admin.headers)
    by_id = {p["id"]: p for p in listed.json()["_embedded"]["providers"]}
    assert by_id[made["id"]]["apiBase"] == upstream.base_url


@pytest.mark.parametrize(
    "api_base",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00:ec2::254]/latest",
        "http://[fe80::1]:8080/v1",
        "http://2852039166/v1",
        "http://metadata.google.internal/computeMetadata/v1",
    ],
)
async def test_a_provider_at_a_metadata_address_is_a_422_naming_the_setting(
    harness: AppHarness, api_base: str
) -> None:
    client, headers = harness.client, harness.admin.headers
    made = await client.post(
        "/api/providers",
        json={"name": "imds", "type": "openai-compatible", "apiBase": api_base},
        headers=headers,
    )
    ok = await add_provider(
        harness, name="ok", type="openai-compatible", apiBase="http://10.0.0.5/v1"
    )
    moved = await client.patch(
        f"/api/providers/{ok['id']}", json={"apiBase": api_base}, headers=headers
    )
    for response in (made, moved):
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "provider_address_blocked"
        assert "SWITCHBOARD_PROVIDER_ALLOWED_HOSTS" in body["message"]
    still = await client.get(f"/api/providers/{ok['id']}", headers=headers)
    assert still.json()["apiBase"] == "http://10.0.0.5/v1"


async def test_an_operator_may_allow_a_link_local_provider_host(
    make_harness: Harnesses,
) -> None:
    async with make_harness.running(provider_allowed_hosts=["169.254.10.10:8000"]) as harness:
        await add_provider(
            harness, name="ll", type="openai-compatible", apiBase="http://169.254.10.10:8000/v1"
        )


async def test_a_stored_provider_moved_to_a_metadata_address_is_refused_at_call_time(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    made = await add_provider(
        harness, name="legacy", type="openai-compatible", apiBase=upstream.base_url
    )
    model = await harness.client.post(
        "/api/models",
        json={"name": "legacy-model", "providerId": made["id"], "model": "legacy-upstream"},
        headers=harness.admin.headers,
    )
    assert model.status_code == 201, model.text
    # As a row saved before the guard existed, or edited in the database behind the API.
    async with write_transaction(harness.services.sessions) as session:
        await session.execute(
            text("UPDATE core_provider SET api_base = :base WHERE id = :id"),
            {"base": "http://169.254.169.254/v1", "id": made["id"]},
        )
        await providers.bump_version(session)
    await harness.services.catalog_sync.refresh()
    answer = await harness.client.post(
        "/v1/chat/completions",
        json={"model": "legacy-model", "messages": [{"role": "user", "content": "hi"}]},
        headers=harness.admin.headers,
    )
    assert answer.status_code == 400, answer.text  # /v1: OpenAI's 400 for a refused request
    assert answer.json()["error"]["code"] == "provider_address_blocked"
    probe = await harness.client.post(
        f"/api/providers/{made['id']}/_test", json={"model": "x"}, headers=harness.admin.headers
    )
    assert probe.status_code == 422 and probe.json()["code"] == "provider_address_blocked"
    assert upstream.recorder.count("legacy-upstream") == 0


def test_a_catalog_pointing_at_a_metadata_address_stops_the_app_from_starting(
    tmp_path: Path,
) -> None:
    with pytest.raises(InvalidCatalog, match="SWITCHBOARD_PROVIDER_ALLOWED_HOSTS"):
        create_app(app_settings(tmp_path), catalog=make_catalog("http://169.254.169.254/v1"))
