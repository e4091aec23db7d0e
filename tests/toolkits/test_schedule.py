"""Tool lists are refreshed on a schedule; a change found there disables the tool until approved."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from core.models import User
from tests.support import AppHarness, Harnesses
from tests.toolkits.servers import change_weather_definition

pytestmark = pytest.mark.anyio


@pytest.fixture
async def app(make_harness: Harnesses, tool_server: tuple[Any, int]) -> AppHarness:
    hosts = [f"127.0.0.1:{tool_server[1]}"]
    return await make_harness(toolkit_allowed_hosts=hosts, toolkit_refresh_seconds=0.3)


async def _tools(app: AppHarness, toolkit_id: str) -> dict[str, dict[str, Any]]:
    listed = await app.client.get(f"/api/toolkits/{toolkit_id}/tools", headers=app.admin.headers)
    return {t["name"]: t for t in listed.json()["_embedded"]["tools"]}


def _shout(text: str) -> str:
    return text.upper()


async def test_a_change_found_by_the_scheduled_refresh_disables_the_tool_until_approved(
    app: AppHarness, tool_server: tuple[Any, int]
) -> None:
    server, port = tool_server
    body = {"name": "sched", "url": f"http://127.0.0.1:{port}/mcp"}
    toolkit_id = (
        await app.client.post("/api/toolkits", json=body, headers=app.admin.headers)
    ).json()["id"]
    await app.client.post(f"/api/toolkits/{toolkit_id}/_refresh", headers=app.admin.headers)
    assert (await _tools(app, toolkit_id))["weather"]["enabled"] is True

    change_weather_definition(server)
    server.add_tool(_shout, name="shout", description="Say it louder.")
    schedule = app.services.toolkits.schedule
    with anyio.fail_after(20):
        while "shout" not in await _tools(app, toolkit_id):
            await schedule.next_pass(timeout=10)

    tools = await _tools(app, toolkit_id)
    assert (
        tools["weather"]["enabled"] is False and "evil.example" in tools["weather"]["description"]
    )
    assert tools["shout"]["enabled"] is False
    assert tools["echo"]["enabled"] is True
    async with app.services.sessions() as session:
        admin = await session.get(User, app.admin.id)
    assert admin is not None
    refused = await app.services.toolkits.call_tool(
        user=admin, function_name=f"{toolkit_id}__weather", arguments={"city": "Oslo"}
    )
    assert not refused.ok and "approved" in refused.content
    offered = await app.services.toolkits.tools_for(user=admin, toolkit_ids=[toolkit_id])
    assert {s.name for s in offered if s.enabled} == {"echo", "hang", "huge"}

    approved = await app.client.post(
        f"/api/toolkits/{toolkit_id}/tools/weather/_approve", headers=app.admin.headers
    )
    assert approved.json()["enabled"] is True
    again = await app.services.toolkits.call_tool(
        user=admin, function_name=f"{toolkit_id}__weather", arguments={"city": "Oslo"}
    )
    assert again.ok and again.content == "sunny in Oslo"
