"""Provider types: LiteLLM's providers with the fields each needs, for admins."""

from __future__ import annotations

import sys
import threading

import pytest

from assistant.gateway import router
from tests.support import AppHarness

pytestmark = pytest.mark.anyio


async def test_listing_provider_types_imports_litellm_off_the_event_loop(
    harness: AppHarness,
) -> None:
    """The first request in a process that made no model call imports LiteLLM in a thread."""
    if router._loaded is not None:
        pytest.skip("LiteLLM is loaded in this process already")
    loop_thread: list[bool] = []

    class Watch:
        def find_spec(self, name: str, *args: object) -> None:
            if name == "litellm":
                loop_thread.append(threading.current_thread() is threading.main_thread())

    sys.meta_path.insert(0, Watch())
    try:
        response = await harness.client.get("/api/provider-types", headers=harness.admin.headers)
    finally:
        sys.meta_path.pop(0)
    assert response.status_code == 200
    assert loop_thread and not any(loop_thread)


async def test_admins_see_litellms_providers_with_the_fields_of_the_common_ones(
    harness: AppHarness,
) -> None:
    response = await harness.client.get("/api/provider-types", headers=harness.admin.headers)
    assert response.status_code == 200, response.text
    listed = response.json()["_embedded"]["providerTypes"]
    kinds = {k["id"]: k for k in listed}
    assert len(listed) == response.json()["total"] > 100  # LiteLLM's own list, not only ours
    assert listed[0]["id"] == "openai" and kinds["openai"]["known"]

    def fields(kind: str) -> dict[str, dict[str, object]]:
        return {f["param"]: f for f in kinds[kind]["fields"]}

    azure = fields("azure")
    assert azure["api_key"]["secret"] and azure["api_key"]["required"]
    assert azure["api_base"]["required"] and azure["api_version"]["required"]
    assert fields("bedrock")["aws_region_name"]["required"]
    assert {"vertex_project", "vertex_location"} <= set(fields("vertex_ai"))
    assert fields("ollama")["api_base"]["default"] == "http://localhost:11434"
    assert not fields("ollama").get("api_key")
    assert kinds["openai-compatible"]["storable"] and not kinds["bedrock"]["storable"]
    assert kinds["groq"]["openaiCompatible"] and kinds["groq"]["storable"]
    assert "cerebras" in kinds and not kinds["cerebras"]["known"]
    assert kinds["azure"]["_links"]["self"]["href"] == "/api/provider-types/azure"


async def test_one_provider_type_and_an_unknown_one_is_404(harness: AppHarness) -> None:
    one = await harness.client.get("/api/provider-types/anthropic", headers=harness.admin.headers)
    assert one.status_code == 200 and one.json()["name"] == "Anthropic"
    missing = await harness.client.get(
        "/api/provider-types/no-such-llm", headers=harness.admin.headers
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "provider_type_not_found"


async def test_members_and_anonymous_callers_may_not_list_provider_types(
    harness: AppHarness,
) -> None:
    member = await harness.member("mo")
    for path in ("/api/provider-types", "/api/provider-types/openai"):
        assert (await harness.client.get(path, headers=member.headers)).status_code == 403
        assert (await harness.client.get(path)).status_code == 401
