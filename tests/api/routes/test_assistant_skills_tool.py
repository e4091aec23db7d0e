"""The model picks a skill through the `load_skill` tool; its instructions arrive only then."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, parse_sse

pytestmark = pytest.mark.anyio
SECRET_SAUCE = "Always answer in exactly three haiku about tides."


async def _assistant_with_skill(harness: AppHarness) -> str:
    made = await harness.client.post(
        "/api/assistants",
        json={"name": "Poet", "instructions": "You write."},
        headers=harness.admin.headers,
    )
    assert made.status_code == 201, made.text
    assistant_id = str(made.json()["id"])
    skill = await harness.client.post(
        f"/api/assistants/{assistant_id}/skills",
        json={"name": "haiku", "description": "Poems about the sea", "instructions": SECRET_SAUCE},
        headers=harness.admin.headers,
    )
    assert skill.status_code == 201, skill.text
    return assistant_id


def _prompt_text(request: dict[str, Any]) -> str:
    return json.dumps(request["messages"])


async def test_the_model_loads_a_skill_by_tool_call_and_only_then_sees_its_instructions(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    call = {
        "id": "s1",
        "type": "function",
        "function": {"name": "load_skill", "arguments": json.dumps({"name": "haiku"})},
    }
    upstream.behave("fake", text="Waves fold into foam.", tool_calls=[[call]])
    assistant_id = await _assistant_with_skill(harness)
    chat_id = await harness.chat(harness.admin, assistantId=assistant_id)
    before = len(upstream.recorder.requests)
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "Write about the sea.", "stream": True},
        headers=harness.admin.headers,
    )
    assert response.status_code == 200, response.text
    events = parse_sse(response.text)
    assert [n for _, n, _ in events][-1] == "done"
    first, second = upstream.recorder.requests[before:]
    tools = [t["function"]["name"] for t in first["tools"]]
    assert tools == ["load_skill"]
    assert "haiku" in json.dumps(first["tools"]) and SECRET_SAUCE not in _prompt_text(first)
    result = second["messages"][-1]
    assert result["role"] == "tool" and result["tool_call_id"] == "s1"
    assert SECRET_SAUCE in result["content"]
    assert SECRET_SAUCE not in json.dumps(second["messages"][:-1])


async def test_an_assistant_without_skills_offers_no_skill_tool(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="Hello.")
    made = await harness.client.post(
        "/api/assistants", json={"name": "Plain"}, headers=harness.admin.headers
    )
    chat_id = await harness.chat(harness.admin, assistantId=made.json()["id"])
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "hi"}, headers=harness.admin.headers
    )
    assert response.status_code == 201, response.text
    assert "tools" not in upstream.recorder.requests[-1]
