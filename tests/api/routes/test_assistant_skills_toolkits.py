"""A skill in use for a turn brings its toolkits: `/skill-name` from the first step, `load_skill`
from the step after it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, parse_sse

pytestmark = pytest.mark.anyio
CALC = "builtin-calculator__calculate"


async def _assistant_with_math_skill(harness: AppHarness) -> str:
    made = await harness.client.post(
        "/api/assistants",
        json={"name": "Counter", "instructions": "You count."},
        headers=harness.admin.headers,
    )
    assert made.status_code == 201, made.text
    assistant_id = str(made.json()["id"])
    skill = await harness.client.post(
        f"/api/assistants/{assistant_id}/skills",
        json={
            "name": "sums",
            "description": "Arithmetic",
            "instructions": "Use the calculator.",
            "toolkitIds": ["builtin-calculator"],
        },
        headers=harness.admin.headers,
    )
    assert skill.status_code == 201, skill.text
    return assistant_id


async def _ask(harness: AppHarness, chat_id: str, content: str) -> list[tuple[str, str, Any]]:
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": content, "stream": True},
        headers=harness.admin.headers,
    )
    assert response.status_code == 200, response.text
    return parse_sse(response.text)


def _tool_names(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools", [])]


async def test_invoking_a_skill_offers_its_toolkits_from_the_first_step(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="Sure.")
    chat_id = await harness.chat(
        harness.admin, assistantId=await _assistant_with_math_skill(harness)
    )
    await _ask(harness, chat_id, "How much is 6*7?")
    assert _tool_names(upstream.recorder.requests[-1]) == ["load_skill"]
    await _ask(harness, chat_id, "/sums 6*7")
    assert _tool_names(upstream.recorder.requests[-1]) == [CALC, "load_skill"]
    await _ask(harness, chat_id, "And 2+2?")
    assert CALC not in _tool_names(upstream.recorder.requests[-1])


async def test_loading_a_skill_offers_its_toolkits_from_the_next_step(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    load = {
        "id": "s1",
        "type": "function",
        "function": {"name": "load_skill", "arguments": json.dumps({"name": "sums"})},
    }
    calculate = {
        "id": "c1",
        "type": "function",
        "function": {"name": CALC, "arguments": json.dumps({"expression": "6*7"})},
    }
    upstream.behave("fake", text="It is 42.", tool_calls=[[load], [calculate]])
    chat_id = await harness.chat(
        harness.admin, assistantId=await _assistant_with_math_skill(harness)
    )
    before = len(upstream.recorder.requests)
    events = await _ask(harness, chat_id, "How much is 6*7?")
    first, second, third = upstream.recorder.requests[before:]
    assert _tool_names(first) == ["load_skill"]
    assert _tool_names(second) == [CALC, "load_skill"]
    results = [d for _, n, d in events if n == "toolResult"]
    assert [r["ok"] for r in results] == [True, True], events
    assert "42" in results[1]["content"]
    assert third["messages"][-1]["content"] == results[1]["content"]
