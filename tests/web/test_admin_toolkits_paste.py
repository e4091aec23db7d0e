"""The admin page in a real browser: pasting an MCP config creates its toolkits; the provider
form shows the fields of the chosen provider type."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer
from playwright.sync_api import Page, expect

from tests.fakes.upstream import FakeUpstream
from tests.toolkits.servers import build_tool_server, mcp_app, serve
from tests.web.conftest import Site, log_in, site_with


@pytest.fixture
def tool_server() -> Iterator[tuple[MCPServer, int]]:
    """An MCP server on loopback."""
    server = build_tool_server()
    with serve(mcp_app(server)) as port:
        yield server, port


@pytest.fixture
def site(
    upstream: FakeUpstream, tmp_path: Path, tool_server: tuple[MCPServer, int]
) -> Iterator[Site]:
    """The app, allowed to reach the loopback MCP server."""
    allowed = [f"127.0.0.1:{tool_server[1]}"]
    with site_with(upstream, tmp_path, toolkit_allowed_hosts=allowed) as started:
        yield started


def test_a_pasted_mcp_config_shows_its_drafts_and_creates_working_toolkits(
    page: Page, site: Site, tool_server: tuple[MCPServer, int]
) -> None:
    _, port = tool_server
    config = {
        "mcpServers": {
            "Pasted remote": {
                "url": f"http://127.0.0.1:{port}/mcp",
                "headers": {"Authorization": "Bearer pasted-token-1"},
            },
            "Pasted local": {"command": "uvx", "args": ["mcp-server-fetch"]},
        }
    }
    log_in(page)
    page.goto("/#/admin/toolkits")
    pasting = page.get_by_role("form", name="Paste your MCP config")
    pasting.get_by_label("MCP config").fill(json.dumps(config))
    pasting.get_by_role("button", name="Read config").click()
    drafts = page.get_by_role("list", name="Toolkit drafts")
    expect(drafts.get_by_role("listitem")).to_have_count(2)
    remote = drafts.get_by_role("listitem").filter(has_text="Pasted remote")
    expect(remote).to_contain_text("mcp-remote")
    expect(remote).to_contain_text("Looks like a secret: Authorization")
    page.get_by_role("button", name="Create 2 toolkits").click()
    expect(page.get_by_text("Created 2 toolkits.")).to_be_visible()
    kit = page.get_by_role("region", name="Toolkit Pasted remote")
    kit.get_by_role("button", name="Test").click()
    expect(kit.get_by_role("status")).to_contain_text("Connected: 4 tools.")
    expect(page.get_by_role("region", name="Toolkit Pasted local")).to_contain_text(
        "uvx mcp-server-fetch"
    )
    assert "pasted-token-1" not in page.content()


def test_a_config_that_cannot_be_read_says_which_part(page: Page, site: Site) -> None:
    log_in(page)
    page.goto("/#/admin/toolkits")
    pasting = page.get_by_role("form", name="Paste your MCP config")
    pasting.get_by_label("MCP config").fill('{"servers": []}')
    pasting.get_by_role("button", name="Read config").click()
    expect(page.get_by_text(re.compile("`servers` must be an object"))).to_be_visible()
    expect(page.get_by_role("list", name="Toolkit drafts")).to_have_count(0)


def test_the_provider_form_shows_the_fields_of_the_chosen_type(page: Page, site: Site) -> None:
    log_in(page)
    page.goto("/#/admin/models")
    adding = page.get_by_role("form", name="New provider")
    kind = adding.get_by_label("Type")
    # The types come from LiteLLM, imported (seconds) by the first request in a fresh app.
    expect(kind.locator("option[value=azure]")).to_have_text("Azure OpenAI", timeout=30_000)
    kind.select_option("azure")
    expect(adding.get_by_label("API version")).to_be_visible()
    expect(adding.get_by_label("API base URL")).to_have_attribute("required", "")
    kind.select_option("groq")
    expect(adding.get_by_label("API version")).to_be_hidden()
    expect(adding.get_by_label("API base URL")).to_be_hidden()
    expect(adding.get_by_label("API key")).to_be_visible()
    kind.select_option("ollama")
    expect(adding.get_by_label("API base URL")).to_have_attribute(
        "placeholder", "http://localhost:11434"
    )
