"""Command-line MCP servers stay running between calls: reused, bounded, idle-closed, restarted."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from core.models import User
from tests.support import AppHarness, Harnesses, eventually

pytestmark = pytest.mark.anyio
SERVER = str(Path(__file__).with_name("stdio_server.py"))


@pytest.fixture
async def app(make_harness: Harnesses) -> AppHarness:
    return await make_harness(
        tool_call_timeout_seconds=20.0,
        toolkit_stdio_max_sessions=2,
        toolkit_stdio_idle_seconds=2.0,
    )


async def _toolkit(app: AppHarness, name: str) -> str:
    body = {"name": name, "kind": "mcp_stdio", "command": [sys.executable, SERVER]}
    made = await app.client.post("/api/toolkits", json=body, headers=app.admin.headers)
    assert made.status_code == 201, made.text
    toolkit_id = str(made.json()["id"])
    refreshed = await app.client.post(
        f"/api/toolkits/{toolkit_id}/_refresh", headers=app.admin.headers
    )
    assert refreshed.json()["connection"]["state"] == "connected", refreshed.text
    return toolkit_id


async def _pid(app: AppHarness, toolkit_id: str) -> int:
    async with app.services.sessions() as session:
        admin = await session.get(User, app.admin.id)
    assert admin is not None
    result = await app.services.toolkits.call_tool(
        user=admin, function_name=f"{toolkit_id}__pid", arguments={}
    )
    assert result.ok, result.content
    return int(result.content)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_two_calls_reuse_one_server_process(app: AppHarness) -> None:
    toolkit_id = await _toolkit(app, "pids")
    pool = app.services.toolkits.connector.stdio
    first = await _pid(app, toolkit_id)
    second = await _pid(app, toolkit_id)
    assert first == second and _alive(first)
    assert pool.started == 1 and pool.running() == 1


async def test_a_killed_server_is_restarted_for_the_next_call(app: AppHarness) -> None:
    toolkit_id = await _toolkit(app, "pids")
    first = await _pid(app, toolkit_id)
    os.kill(first, signal.SIGKILL)
    second = await _pid(app, toolkit_id)
    assert second != first and _alive(second)
    assert await _pid(app, toolkit_id) == second


async def test_the_pool_is_bounded_and_closes_idle_servers(app: AppHarness) -> None:
    kits = [await _toolkit(app, f"kit{n}") for n in range(3)]
    pool = app.services.toolkits.connector.stdio
    pids = [await _pid(app, kit) for kit in kits]
    assert len(set(pids)) == 3 and pool.running() <= 2
    await eventually(lambda: not _alive(pids[0]), seconds=15)
    await eventually(lambda: pool.running() == 0 and not any(_alive(p) for p in pids), seconds=15)
