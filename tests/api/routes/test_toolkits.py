"""External toolkits: a reference MCP server over stdio and a loopback one over Streamable HTTP."""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest

from core.models import User
from tests.support import AppHarness, Harnesses
from tests.toolkits.servers import change_weather_definition

pytestmark = pytest.mark.anyio
RESULT_CAP = 5_000
CALL_TIMEOUT = 6.0  # short for the hang test, long enough for a loaded machine


@pytest.fixture
async def app(make_harness: Harnesses, tool_server: tuple[Any, int]) -> AppHarness:
    _, port = tool_server
    return await make_harness(
        toolkit_allowed_hosts=[f"127.0.0.1:{port}"],
        tool_call_timeout_seconds=CALL_TIMEOUT,
        tool_result_max_chars=RESULT_CAP,
    )


async def _admin(app: AppHarness) -> User:
    async with app.services.sessions() as session:
        user = await session.get(User, app.admin.id)
    assert user is not None
    return user


async def _add(app: AppHarness, body: dict[str, Any]) -> str:
    made = await app.client.post("/api/toolkits", json=body, headers=app.admin.headers)
    assert made.status_code == 201, made.text
    toolkit_id = str(made.json()["id"])
    refreshed = await app.client.post(
        f"/api/toolkits/{toolkit_id}/_refresh", headers=app.admin.headers
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["connection"]["state"] == "connected", refreshed.text
    return toolkit_id


async def test_the_reference_time_server_over_stdio_is_discovered_and_called(
    app: AppHarness,
) -> None:
    body = {
        "name": "time",
        "kind": "mcp_stdio",
        "command": [sys.executable, "-m", "mcp_server_time"],
    }
    toolkit_id = await _add(app, body)
    tools = await app.client.get(f"/api/toolkits/{toolkit_id}/tools", headers=app.admin.headers)
    names = {t["name"] for t in tools.json()["_embedded"]["tools"]}
    assert names == {"get_current_time", "convert_time"}
    result = await app.services.toolkits.call_tool(
        user=await _admin(app),
        function_name=f"{toolkit_id}__get_current_time",
        arguments={"timezone": "Europe/Paris"},
    )
    assert result.ok and "Europe/Paris" in result.content


async def test_only_admins_may_add_a_command_line_toolkit(app: AppHarness) -> None:
    member = await app.member("mallory")
    body = {"name": "shell", "kind": "mcp_stdio", "command": ["sh", "-c", "id"]}
    refused = await app.client.post("/api/toolkits", json=body, headers=member.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "stdio_needs_admin"


async def test_a_loopback_http_server_is_discovered_called_and_searchable(
    app: AppHarness, tool_server: tuple[Any, int]
) -> None:
    _, port = tool_server
    body = {
        "name": "loopback",
        "url": f"http://127.0.0.1:{port}/mcp",
        "headers": {"X-Api-Key": {"value": "s3cret"}},
    }
    toolkit_id = await _add(app, body)
    shown = await app.client.get(f"/api/toolkits/{toolkit_id}", headers=app.admin.headers)
    assert shown.json()["headers"] == {"X-Api-Key": {"secret": None, "encrypted": True}}
    assert "s3cret" not in shown.text
    found = await app.client.get("/api/tools", params={"q": "echo"}, headers=app.admin.headers)
    assert [t["name"] for t in found.json()["_embedded"]["tools"]] == ["echo"]
    result = await app.services.toolkits.call_tool(
        user=await _admin(app), function_name=f"{toolkit_id}__echo", arguments={"text": "hi"}
    )
    assert result.ok and result.content == "echo: hi"


async def test_a_changed_definition_disables_the_tool_until_it_is_approved_again(
    app: AppHarness, tool_server: tuple[Any, int]
) -> None:
    server, port = tool_server
    toolkit_id = await _add(app, {"name": "w", "url": f"http://127.0.0.1:{port}/mcp"})
    admin = await _admin(app)
    name = f"{toolkit_id}__weather"
    args = {"city": "Oslo"}
    assert (
        await app.services.toolkits.call_tool(user=admin, function_name=name, arguments=args)
    ).ok
    change_weather_definition(server)
    refused = await app.services.toolkits.call_tool(user=admin, function_name=name, arguments=args)
    assert not refused.ok and "approved" in refused.content
    tools = await app.client.get(f"/api/toolkits/{toolkit_id}/tools", headers=app.admin.headers)
    weather = next(t for t in tools.json()["_embedded"]["tools"] if t["name"] == "weather")
    assert weather["enabled"] is False and "evil.example" in weather["description"]
    approved = await app.client.post(
        f"/api/toolkits/{toolkit_id}/tools/weather/_approve", headers=app.admin.headers
    )
    assert approved.status_code == 200 and approved.json()["enabled"] is True
    again = await app.services.toolkits.call_tool(user=admin, function_name=name, arguments=args)
    assert again.ok and again.content == "sunny in Oslo"


async def test_a_hanging_tool_times_out_as_a_tool_error(
    app: AppHarness, tool_server: tuple[Any, int]
) -> None:
    _, port = tool_server
    toolkit_id = await _add(app, {"name": "h", "url": f"http://127.0.0.1:{port}/mcp"})
    started = time.monotonic()
    result = await app.services.toolkits.call_tool(
        user=await _admin(app), function_name=f"{toolkit_id}__hang", arguments={}
    )
    assert not result.ok and f"did not answer within {CALL_TIMEOUT:g} s" in result.content
    assert time.monotonic() - started < CALL_TIMEOUT + 3


async def test_a_huge_result_is_capped(app: AppHarness, tool_server: tuple[Any, int]) -> None:
    _, port = tool_server
    toolkit_id = await _add(app, {"name": "big", "url": f"http://127.0.0.1:{port}/mcp"})
    result = await app.services.toolkits.call_tool(
        user=await _admin(app), function_name=f"{toolkit_id}__huge", arguments={}
    )
    assert result.ok and result.truncated
    assert result.content.startswith("x" * RESULT_CAP) and len(result.content) < RESULT_CAP + 100


async def test_the_turn_budget_stops_calls_past_the_limit(app: AppHarness) -> None:
    admin = await _admin(app)
    budget = app.services.toolkits.turn_budget()
    budget.remaining = 1
    first = await app.services.toolkits.call_tool(
        user=admin,
        function_name="builtin-calculator__calculate",
        arguments={"expression": "6*7"},
        budget=budget,
    )
    second = await app.services.toolkits.call_tool(
        user=admin,
        function_name="builtin-calculator__calculate",
        arguments={"expression": "1+1"},
        budget=budget,
    )
    assert first.ok and '"value": 42' in first.content
    assert not second.ok and "limit" in second.content


async def test_a_member_cannot_see_or_use_another_users_private_toolkit(
    app: AppHarness, tool_server: tuple[Any, int]
) -> None:
    _, port = tool_server
    toolkit_id = await _add(app, {"name": "mine", "url": f"http://127.0.0.1:{port}/mcp"})
    member = await app.member("eve")
    seen = await app.client.get(f"/api/toolkits/{toolkit_id}", headers=member.headers)
    tools = await app.client.get("/api/tools", headers=member.headers)
    assert seen.status_code == 404
    assert all(t["toolkitId"] != toolkit_id for t in tools.json()["_embedded"]["tools"])


async def test_every_route_that_reads_a_toolkit_finds_built_ins_and_hides_anothers_private_one(
    app: AppHarness, tool_server: tuple[Any, int]
) -> None:
    _, port = tool_server
    toolkit_id = await _add(app, {"name": "mine", "url": f"http://127.0.0.1:{port}/mcp"})
    member = await app.member("trudy")
    for method, path in (
        ("GET", f"/api/toolkits/{toolkit_id}"),
        ("GET", f"/api/toolkits/{toolkit_id}/tools"),
        ("POST", f"/api/toolkits/{toolkit_id}/_disconnect"),
    ):
        hidden = await app.client.request(method, path, headers=member.headers)
        assert hidden.status_code == 404 and hidden.json()["code"] == "toolkit_not_found", path
    kit = await app.client.get("/api/toolkits/builtin-clock", headers=member.headers)
    tools = await app.client.get("/api/toolkits/builtin-clock/tools", headers=member.headers)
    signed_out = await app.client.post(
        "/api/toolkits/builtin-clock/_disconnect", headers=member.headers
    )
    assert kit.json()["kind"] == "builtin"
    assert [t["name"] for t in tools.json()["_embedded"]["tools"]] == ["current_time"]
    assert signed_out.status_code == 403 and signed_out.json()["code"] == "toolkit_read_only"


async def test_built_in_toolkits_are_read_only_and_anothers_toolkit_is_not_found_when_changed(
    app: AppHarness, tool_server: tuple[Any, int]
) -> None:
    _, port = tool_server
    toolkit_id = await _add(app, {"name": "mine", "url": f"http://127.0.0.1:{port}/mcp"})
    member = await app.member("mallory")
    admin = app.admin.headers
    for method, path, body in (
        ("PATCH", "/api/toolkits/builtin-clock", {"name": "renamed"}),
        ("DELETE", "/api/toolkits/builtin-clock", None),
        ("POST", "/api/toolkits/builtin-clock/tools/now/_approve", None),
    ):
        refused = await app.client.request(method, path, json=body, headers=admin)
        assert refused.status_code == 403 and refused.json()["code"] == "toolkit_read_only"
    for method, path, body in (
        ("PATCH", f"/api/toolkits/{toolkit_id}", {"name": "taken"}),
        ("DELETE", f"/api/toolkits/{toolkit_id}", None),
        ("POST", f"/api/toolkits/{toolkit_id}/tools/get_weather/_approve", None),
    ):
        hidden = await app.client.request(method, path, json=body, headers=member.headers)
        assert hidden.status_code == 404, hidden.text
    still = await app.client.get(f"/api/toolkits/{toolkit_id}", headers=admin)
    assert still.json()["name"] == "mine"
