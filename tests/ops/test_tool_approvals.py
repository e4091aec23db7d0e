"""Tool approvals live in the database: a decision written by any worker reaches the answer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from assistant.chat import approvals
from assistant.models import ToolApproval
from core.database import write_transaction
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Harnesses, eventually, parse_sse
from tests.toolkits.servers import build_tool_server, mcp_app, serve

pytestmark = pytest.mark.anyio


@pytest.fixture
def tool_server() -> Iterator[int]:
    with serve(mcp_app(build_tool_server())) as port:
        yield port


@pytest.fixture
async def app(make_harness: Harnesses, tool_server: int) -> AppHarness:
    hosts = [f"127.0.0.1:{tool_server}"]
    return await make_harness(toolkit_allowed_hosts=hosts, tool_approval_seconds=3)


async def _echo_chat(app: AppHarness, upstream: FakeUpstream, port: int) -> str:
    """A chat whose model calls the loopback server's echo tool (side effects: needs approval)."""
    body = {"name": "loopback", "kind": "mcp_http", "url": f"http://127.0.0.1:{port}/mcp"}
    made = await app.client.post("/api/toolkits", json=body, headers=app.admin.headers)
    assert made.status_code == 201, made.text
    kit = str(made.json()["id"])
    refreshed = await app.client.post(f"/api/toolkits/{kit}/_refresh", headers=app.admin.headers)
    assert refreshed.status_code == 200
    call = {
        "id": "e1",
        "type": "function",
        "function": {"name": f"{kit}__echo", "arguments": json.dumps({"text": "hi"})},
    }
    upstream.behave("fake", text="ok", chunks=1, tool_calls=[[call]])
    return await app.chat(app.admin, toolkitIds=[kit])


async def _ask(app: AppHarness, chat_id: str) -> list[tuple[str, str, Any]]:
    response = await app.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "Echo hi.", "stream": True},
        headers=app.admin.headers,
    )
    assert response.status_code == 200, response.text
    return parse_sse(response.text)


async def _rows(app: AppHarness) -> list[ToolApproval]:
    async with app.services.sessions() as session:
        return list(await session.scalars(select(ToolApproval)))


async def _pending(app: AppHarness, sending: asyncio.Task[Any]) -> ToolApproval:
    async def asked() -> list[ToolApproval]:
        if sending.done():
            pytest.fail(f"the answer ended without asking: {sending.result()}")
        return await _rows(app)

    rows = await eventually(asked, seconds=30)  # generous: CI machines are busy
    assert [r.state for r in rows] == ["pending"]
    return rows[0]


async def test_a_decision_written_by_another_worker_reaches_the_answer_within_a_second(
    app: AppHarness, upstream: FakeUpstream, tool_server: int
) -> None:
    chat_id = await _echo_chat(app, upstream, tool_server)
    sending = asyncio.create_task(_ask(app, chat_id))
    row = await _pending(app, sending)
    assert (row.chat_id, row.call_id, row.name.endswith("__echo")) == (chat_id, "e1", True)
    # What another worker does on POST .../tool-approvals/e1: only the database row changes.
    async with write_transaction(app.services.sessions) as session:
        assert await approvals.decide(session, chat_id=chat_id, call_id="e1", approve=True)
    decided_at = time.monotonic()
    async with asyncio.timeout(5):
        events = await sending
    assert time.monotonic() - decided_at < 1.5
    result = next(e[2] for e in events if e[1] == "toolResult")
    assert result["ok"] and result["content"] == "echo: hi"
    assert [r.state for r in await _rows(app)] == ["approved"]
    again = await app.client.post(
        f"/api/chats/{chat_id}/tool-approvals/e1",
        json={"approve": False},
        headers=app.admin.headers,
    )
    assert again.status_code == 404 and again.json()["code"] == "no_pending_approval"


async def test_a_call_nobody_decides_in_time_expires_as_a_refusal(
    app: AppHarness, upstream: FakeUpstream, tool_server: int
) -> None:
    chat_id = await _echo_chat(app, upstream, tool_server)
    async with asyncio.timeout(15):
        events = await _ask(app, chat_id)
    result = next(e[2] for e in events if e[1] == "toolResult")
    assert not result["ok"] and "refused" in result["content"]
    assert [r.state for r in await _rows(app)] == ["expired"]


async def test_a_decision_posted_to_this_worker_is_recorded_and_wakes_the_answer_at_once(
    app: AppHarness, upstream: FakeUpstream, tool_server: int
) -> None:
    chat_id = await _echo_chat(app, upstream, tool_server)
    sending = asyncio.create_task(_ask(app, chat_id))
    await _pending(app, sending)
    decided = await app.client.post(
        f"/api/chats/{chat_id}/tool-approvals/e1",
        json={"approve": False},
        headers=app.admin.headers,
    )
    assert decided.status_code == 200
    async with asyncio.timeout(5):
        events = await sending
    result = next(e[2] for e in events if e[1] == "toolResult")
    assert not result["ok"]
    assert [r.state for r in await _rows(app)] == ["refused"]
