"""The tool loop in chat, against the fake upstream scripted to call tools."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Harnesses, eventually, parse_sse
from tests.toolkits.servers import build_tool_server, mcp_app, serve

pytestmark = pytest.mark.anyio
CALC = "builtin-calculator__calculate"
CLOCK = "builtin-clock__current_time"


def _call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


@pytest.fixture
def tool_server() -> Iterator[int]:
    with serve(mcp_app(build_tool_server())) as port:
        yield port


@pytest.fixture
async def app(make_harness: Harnesses, tool_server: int) -> AppHarness:
    return await make_harness(toolkit_allowed_hosts=[f"127.0.0.1:{tool_server}"], tool_max_steps=3)


async def _chat(app: AppHarness, toolkits: list[str]) -> str:
    made = await app.client.post(
        "/api/chats", json={"toolkitIds": toolkits}, headers=app.admin.headers
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def _ask(app: AppHarness, chat_id: str) -> list[tuple[str, str, Any]]:
    response = await app.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "Work it out.", "stream": True},
        headers=app.admin.headers,
    )
    assert response.status_code == 200, response.text
    return parse_sse(response.text)


async def test_a_single_tool_call_runs_and_its_result_goes_back_to_the_model(
    app: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave(
        "fake",
        text="The answer is 42.",
        chunks=2,
        tool_calls=[[_call("c1", CALC, {"expression": "6*7"})]],
    )
    chat_id = await _chat(app, ["builtin-calculator"])
    events = await _ask(app, chat_id)
    names = [e[1] for e in events]
    assert (
        names.index("toolCall")
        < names.index("toolResult")
        < names.index("delta")
        < names.index("done")
    )
    result = next(e[2] for e in events if e[1] == "toolResult")
    assert result["id"] == "c1" and result["ok"] and json.loads(result["content"])["value"] == 42
    first, second = upstream.recorder.requests[-2:]
    assert first["tools"][0]["function"]["name"] == CALC
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": result["content"],
    }
    saved = (
        await app.client.get(f"/api/chats/{chat_id}/messages", headers=app.admin.headers)
    ).json()
    answer = saved["_embedded"]["messages"][-1]
    assert answer["content"] == "The answer is 42." and answer["status"] == "complete"
    assert answer["toolEvents"][0]["name"] == CALC
    assert answer["toolEvents"][0]["content"] == result["content"]
    usage = (await app.client.get("/api/usage?groupBy=model", headers=app.admin.headers)).json()
    rows = usage["_embedded"]["usage"]
    assert sum(r["requests"] for r in rows) == 2, rows  # each model call of the loop is metered


async def test_parallel_calls_in_one_step_all_run(app: AppHarness, upstream: FakeUpstream) -> None:
    calls = [
        _call("a", CALC, {"expression": "1+1"}),
        _call("b", CALC, {"expression": "2+2"}),
        _call("c", CLOCK, {}),
    ]
    upstream.behave("fake", text="done", chunks=1, tool_calls=[calls])
    events = await _ask(app, await _chat(app, ["builtin-calculator", "builtin-clock"]))
    results = {e[2]["id"]: e[2] for e in events if e[1] == "toolResult"}
    assert json.loads(results["a"]["content"])["value"] == 2
    assert json.loads(results["b"]["content"])["value"] == 4
    assert results["c"]["ok"] and "T" in results["c"]["content"]
    tool_messages = [m for m in upstream.recorder.requests[-1]["messages"] if m["role"] == "tool"]
    assert {m["tool_call_id"] for m in tool_messages} == {"a", "b", "c"}


async def test_multi_step_loops_until_the_model_answers(
    app: AppHarness, upstream: FakeUpstream
) -> None:
    steps = [
        [_call("s1", CALC, {"expression": "2**10"})],
        [_call("s2", CALC, {"expression": "1024/4"})],
    ]
    upstream.behave("fake", text="256", chunks=1, tool_calls=steps)
    events = await _ask(app, await _chat(app, ["builtin-calculator"]))
    values = [json.loads(e[2]["content"])["value"] for e in events if e[1] == "toolResult"]
    assert values == [1024, 256]
    assert events[-1][1] == "done" and upstream.recorder.count("fake") == 3


async def test_the_step_limit_stops_a_model_that_keeps_calling_tools(
    app: AppHarness, upstream: FakeUpstream
) -> None:
    steps = [[_call(f"x{i}", CALC, {"expression": "1"})] for i in range(10)]
    upstream.behave("fake", text="never", chunks=1, tool_calls=steps)
    events = await _ask(app, await _chat(app, ["builtin-calculator"]))
    assert events[-1][1] == "error" and events[-1][2]["code"] == "tool_step_limit"
    assert upstream.recorder.count("fake") == 4  # the first call and three tool steps


async def _side_effect_chat(app: AppHarness, port: int) -> tuple[str, str]:
    body = {"name": "loopback", "kind": "mcp_http", "url": f"http://127.0.0.1:{port}/mcp"}
    made = await app.client.post("/api/toolkits", json=body, headers=app.admin.headers)
    assert made.status_code == 201, made.text
    kit = str(made.json()["id"])
    assert (
        await app.client.post(f"/api/toolkits/{kit}/_refresh", headers=app.admin.headers)
    ).status_code == 200
    return kit, await _chat(app, [kit])


@pytest.mark.parametrize("approve", [True, False])
async def test_tools_with_side_effects_wait_for_approval(
    app: AppHarness, upstream: FakeUpstream, tool_server: int, approve: bool
) -> None:
    kit, chat_id = await _side_effect_chat(app, tool_server)
    upstream.behave(
        "fake", text="ok", chunks=1, tool_calls=[[_call("e1", f"{kit}__echo", {"text": "hi"})]]
    )
    sending = asyncio.create_task(_ask(app, chat_id))
    engine = app.services.chat
    await eventually(lambda: any(r.approvals for r in engine.registry.active()), seconds=15)
    decided = await app.client.post(
        f"/api/chats/{chat_id}/tool-approvals/e1",
        json={"approve": approve},
        headers=app.admin.headers,
    )
    assert decided.status_code == 200
    events = await sending
    names = [e[1] for e in events]
    assert names.index("approvalRequired") < names.index("toolResult")
    result = next(e[2] for e in events if e[1] == "toolResult")
    if approve:
        assert result["ok"] and result["content"] == "echo: hi"
    else:
        assert not result["ok"] and "refused" in result["content"]
    gone = await app.client.post(
        f"/api/chats/{chat_id}/tool-approvals/e1", json={"approve": True}, headers=app.admin.headers
    )
    assert gone.status_code == 404


async def test_the_tool_call_cap_counts_every_step_of_a_turn(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    app = await make_harness(tool_max_calls_per_turn=2, tool_max_steps=4)
    steps = [[_call(f"t{i}", CALC, {"expression": f"{i}+1"})] for i in range(4)]
    upstream.behave("fake", text="done", chunks=1, tool_calls=steps)
    events = await _ask(app, await _chat(app, ["builtin-calculator"]))
    results = [e[2] for e in events if e[1] == "toolResult"]
    assert [r["ok"] for r in results] == [True, True, False, False]
    assert all("Tool call limit reached (2 per turn)" in r["content"] for r in results[2:])
    assert events[-1][1] == "done" and upstream.recorder.count("fake") == 5
