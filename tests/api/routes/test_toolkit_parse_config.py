"""Pasted MCP configs read into toolkit drafts that POST /api/toolkits accepts as they are."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import AppHarness, Caller, Harnesses

pytestmark = pytest.mark.anyio
PORT = 9  # the toolkits are created, never connected to
URL = f"http://127.0.0.1:{PORT}/mcp"
CLAUDE_DESKTOP = {
    "mcpServers": {
        "filesystem": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
            "env": {"GITHUB_TOKEN": "ghp_abc", "LOG_LEVEL": "debug"},
        },
        "remote": {"url": URL, "headers": {"Authorization": "Bearer t0k", "X-Team": "blue"}},
        "legacy": {"url": f"http://127.0.0.1:{PORT}/sse", "type": "sse"},
    }
}


@pytest.fixture
async def app(make_harness: Harnesses) -> AppHarness:
    return await make_harness(toolkit_allowed_hosts=[f"127.0.0.1:{PORT}"])


async def _parse(app: AppHarness, caller: Caller, config: Any) -> list[dict[str, Any]]:
    response = await app.client.post(
        "/api/toolkit-parse-config", json={"config": config}, headers=caller.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["_embedded"]["drafts"])


async def test_a_claude_desktop_config_gives_one_draft_per_server_that_creates_its_toolkit(
    app: AppHarness,
) -> None:
    drafts = await _parse(app, app.admin, CLAUDE_DESKTOP)
    fs, remote, legacy = drafts
    assert (fs["type"], fs["config"]["name"], fs["config"]["kind"]) == (
        "mcp-stdio",
        "filesystem",
        "mcp_stdio",
    )
    assert fs["config"]["command"] == [
        "env",
        "GITHUB_TOKEN=ghp_abc",
        "LOG_LEVEL=debug",
        "npx",
        "-y",
        "@modelcontextprotocol/server-filesystem",
        "/tmp",
    ]
    assert fs["secrets"] == [{"where": "env", "name": "GITHUB_TOKEN"}] and not fs["needsAdmin"]
    assert remote["type"] == "mcp-remote" and remote["config"]["url"] == URL
    assert remote["config"]["headers"]["Authorization"]["value"] == "Bearer t0k"
    assert remote["secrets"] == [{"where": "header", "name": "Authorization"}]
    assert legacy["transport"] == "sse" and remote["transport"] == "streamable-http"
    listed = await app.client.get("/api/toolkits", headers=app.admin.headers)
    before = listed.json()["total"]
    for draft in drafts:
        made = await app.client.post(
            "/api/toolkits", json=draft["config"], headers=app.admin.headers
        )
        assert made.status_code == 201, made.text
    listed = await app.client.get("/api/toolkits", headers=app.admin.headers)
    assert listed.json()["total"] == before + 3


async def test_command_lines_urls_and_bare_server_objects_are_read(app: AppHarness) -> None:
    [line] = await _parse(app, app.admin, "API_KEY='s e' npx -y @acme/server-notes --ro")
    assert line["config"]["command"] == [
        "env",
        "API_KEY=s e",
        "npx",
        "-y",
        "@acme/server-notes",
        "--ro",
    ]
    assert line["config"]["name"] == "server-notes" and line["env"] == {"API_KEY": "s e"}
    [url] = await _parse(app, app.admin, f"  {URL}  ")
    assert (url["type"], url["config"]["url"], url["config"]["name"]) == (
        "mcp-remote",
        URL,
        "127.0.0.1",
    )
    [bare] = await _parse(app, app.admin, {"command": "uvx", "args": ["mcp-server-fetch"]})
    assert bare["config"]["command"] == ["uvx", "mcp-server-fetch"]
    [as_text] = await _parse(app, app.admin, json.dumps({"servers": {"x": {"url": URL}}}))
    assert as_text["config"]["name"] == "x"
    [bridge] = await _parse(app, app.admin, f"npx mcp-remote {URL} --header 'X-Api-Key: k1'")
    assert bridge["type"] == "mcp-remote" and bridge["config"]["headers"]["X-Api-Key"] == {
        "value": "k1",
        "secret": None,
    }


async def test_members_may_parse_but_a_command_draft_says_it_needs_an_admin(
    app: AppHarness,
) -> None:
    member = await app.member("mel")
    fs, remote, _ = await _parse(app, member, CLAUDE_DESKTOP)
    assert fs["needsAdmin"] and not remote["needsAdmin"]
    refused = await app.client.post("/api/toolkits", json=fs["config"], headers=member.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "stdio_needs_admin"
    made = await app.client.post("/api/toolkits", json=remote["config"], headers=member.headers)
    assert made.status_code == 201, made.text
    anonymous = await app.client.post("/api/toolkit-parse-config", json={"config": URL})
    assert anonymous.status_code == 401


async def test_parsing_creates_nothing(app: AppHarness) -> None:
    before = (await app.client.get("/api/toolkits", headers=app.admin.headers)).json()["total"]
    await _parse(app, app.admin, CLAUDE_DESKTOP)
    after = (await app.client.get("/api/toolkits", headers=app.admin.headers)).json()["total"]
    assert after == before


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ("", "empty"),
        ("{not json", "not valid JSON"),
        ({"foo": 1}, "`foo`"),
        ("FOO=1", "no command"),
        ('npx "unterminated', "No closing quotation"),
        ("ftp://files.example.com/mcp", "not an http(s) URL"),
        ({"mcpServers": {"a": {"url": "file:///etc/passwd"}}}, "not an http(s) URL"),
        ({"mcpServers": {"a": {"command": 3}}}, "`command` of server `a`"),
        ({"mcpServers": {"a": {"command": "x", "args": [{}]}}}, "`args` of server `a`"),
        ({"mcpServers": {"a": {"url": URL, "headers": ["x"]}}}, "`headers` of server `a`"),
        ({"mcpServers": {"a": {"url": URL, "type": "websocket"}}}, "`websocket`"),
        ({"mcpServers": []}, "`mcpServers`"),
        ("x" * 70_000, "longer than"),
        ("npx " + " ".join(["a"] * 120), "command"),
    ],
)
async def test_a_config_that_cannot_be_read_is_422_naming_the_part(
    app: AppHarness, config: Any, named: str
) -> None:
    response = await app.client.post(
        "/api/toolkit-parse-config", json={"config": config}, headers=app.admin.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "config_not_understood"
    assert named in response.json()["message"]


async def test_a_body_without_config_is_422(app: AppHarness) -> None:
    for body in ({}, {"config": 5}, {"config": None}):
        response = await app.client.post(
            "/api/toolkit-parse-config", json=body, headers=app.admin.headers
        )
        assert response.status_code == 422, response.text
