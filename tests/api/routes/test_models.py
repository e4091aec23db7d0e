"""The catalog as the API shows it."""

from __future__ import annotations

import pytest

from tests.support import AppHarness

pytestmark = pytest.mark.anyio


async def test_models_show_price_limits_and_default_but_never_a_key(harness: AppHarness) -> None:
    response = await harness.client.get("/api/models", headers=harness.admin.headers)
    models = {m["id"]: m for m in response.json()["_embedded"]["models"]}
    fake = models["fake"]
    assert fake["isDefault"] and fake["available"] and fake["aliases"] == ["fake-alias"]
    assert fake["inputCostPerMillionTokens"] == 10 and fake["outputCostPerMillionTokens"] == 30
    assert (fake["promptPpm"], fake["completionPpm"], fake["cacheReadPpm"]) == (10, 30, None)
    assert fake["contextWindow"] == 4096 and fake["chat"] and not fake["attachments"]
    assert fake["capabilities"] == {
        "chat": True,
        "embeddings": False,
        "vision": False,
        "tools": False,
        "reasoning": False,
        "promptCaching": False,
        "pdfInput": False,
    }
    assert models["balanced"]["deployments"] == 2
    assert "test-key" not in response.text and "api_base" not in response.text
    one = await harness.client.get("/api/models/fake-alias", headers=harness.admin.headers)
    assert one.json()["id"] == "fake"
    assert (
        await harness.client.get("/api/models/nope", headers=harness.admin.headers)
    ).status_code == 404


async def test_providers_list_what_is_configured(harness: AppHarness) -> None:
    response = await harness.client.get("/api/providers", headers=harness.admin.headers)
    providers = {p["id"]: p for p in response.json()["_embedded"]["providers"]}
    assert providers["openai"]["configured"] is True and "fake" in providers["openai"]["models"]
    assert "test-key" not in response.text
    assert (
        await harness.client.get("/api/providers/openai", headers=harness.admin.headers)
    ).status_code == 200
    assert (
        await harness.client.get("/api/providers/nope", headers=harness.admin.headers)
    ).status_code == 404
