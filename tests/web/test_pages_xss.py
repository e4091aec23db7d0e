"""Script payloads in names render as text on the library, file, assistants and admin pages.

The `page` fixture fails the test on any script or console error (a blocked inline handler is a
console error too), and each page is checked for the payload shown as text, no element the
payload would have made, and `window.__xss` never set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.server.mcpserver import MCPServer
from playwright.sync_api import Page, expect

from tests.fakes.upstream import FakeUpstream
from tests.toolkits.servers import mcp_app, serve
from tests.web.conftest import Site, log_in, screenshot, site_with

SCRIPT = "<script>window.__xss=1</script>"
IMG = "<img src=x onerror=window.__xss=1>"
SVG = "<svg onload=window.__xss=1>"


def _hostile_tools() -> MCPServer:
    server: MCPServer = MCPServer(name="hostile")

    def lookup(text: str) -> str:
        return text

    server.add_tool(lookup, name=f"look{IMG}", description=f"Looks things up {SCRIPT}")
    return server


@pytest.fixture
def tool_port() -> Iterator[int]:
    with serve(mcp_app(_hostile_tools())) as port:
        yield port


@pytest.fixture
def site(upstream: FakeUpstream, tmp_path: Path, tool_port: int) -> Iterator[Site]:
    """The app with the small embedder and the hostile MCP server allowed."""
    allowed = [f"127.0.0.1:{tool_port}"]
    with site_with(
        upstream, tmp_path, embedding_backend="hash", toolkit_allowed_hosts=allowed
    ) as started:
        yield started


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


def _assert_inert(page: Page, *texts: str) -> None:
    main = page.locator("#page")
    for text in texts:
        expect(main).to_contain_text(text)
    assert main.locator("script, img, iframe, object, embed").count() == 0
    assert main.locator("svg[onload], [onerror], [onload], [onclick]").count() == 0
    assert page.evaluate("() => window.__xss") is None


def test_library_and_file_pages_show_hostile_file_and_folder_names_as_text(
    page: Page, site: Site
) -> None:
    folder = _ok(site.admin.post("/api/library/folders", json={"name": f"Docs {SCRIPT}"}))
    uploaded = _ok(
        site.admin.post(
            "/api/library/files",
            files=[("files", (f"{IMG}.txt", b"Plain words <b>bold?</b> " + SVG.encode()))],
            data={"folderId": folder["id"]},
        )
    )
    file_id = uploaded["_embedded"]["files"][0]["id"]
    log_in(page)
    page.goto(f"/#/library/{folder['id']}")
    expect(page.get_by_text("indexed", exact=True)).to_be_visible()
    _assert_inert(page, f"Docs {SCRIPT}", f"{IMG}.txt")
    page.get_by_role("link", name=f"{IMG}.txt").click()
    expect(page.get_by_role("list", name="Passages")).to_contain_text(SVG)
    _assert_inert(page, f"{IMG}.txt", SVG)
    assert page.url.endswith(f"#/files/{file_id}")
    screenshot(page, "xss-file")


def test_assistant_skill_secret_and_knowledge_names_render_as_text(page: Page, site: Site) -> None:
    assistant = _ok(
        site.admin.post(
            "/api/assistants",
            json={"name": f"Helper {SCRIPT}", "description": IMG, "instructions": SVG},
        )
    )
    base = f"/api/assistants/{assistant['id']}"
    _ok(site.admin.post(f"{base}/skills", json={"name": "evil", "description": f"skill {IMG}"}))
    _ok(site.admin.post(f"{base}/secrets", json={"name": "KEY", "value": "v", "description": SVG}))
    folder = _ok(site.admin.post("/api/library/folders", json={"name": f"Kb {IMG}"}))
    _ok(site.admin.post(f"{base}/knowledge", json={"folderIds": [folder["id"]]}))
    log_in(page)
    page.goto("/#/assistants")
    _assert_inert(page, f"Helper {SCRIPT}", IMG)
    page.get_by_role("link", name=f"Helper {SCRIPT}").click()
    _assert_inert(page, f"Helper {SCRIPT}", f"skill {IMG}", SVG, f"Kb {IMG}")
    page.get_by_role("button", name="Edit as draft").click()
    expect(page.get_by_role("form", name="Draft").get_by_label("Name")).to_have_value(
        f"Helper {SCRIPT}"
    )
    _assert_inert(page, f"skill {IMG}")


def test_admin_sections_show_hostile_team_user_budget_and_tool_names_as_text(
    page: Page, site: Site, tool_port: int
) -> None:
    team = _ok(site.admin.post("/api/teams", json={"name": f"Team {SCRIPT}"}))
    user = _ok(
        site.admin.post(
            "/api/users",
            json={"username": "eve", "password": "a-long-password-1", "displayName": IMG},
        )
    )
    _ok(site.admin.post(f"/api/teams/{team['id']}/members", json={"userId": user["id"]}))
    _ok(site.admin.put(f"/api/teams/{team['id']}/ai-subscription", json={"seats": 2}))
    budget = {"name": f"Cap {SVG}", "scope": "team", "scopeId": team["id"], "limitMicros": 1}
    _ok(site.admin.post("/api/usage-budgets", json=budget))
    kit = _ok(
        site.admin.post(
            "/api/toolkits",
            json={"name": f"Kit {IMG}", "url": f"http://127.0.0.1:{tool_port}/mcp"},
        )
    )
    refreshed = _ok(site.admin.post(f"/api/toolkits/{kit['id']}/_refresh"))
    assert [t["name"] for t in refreshed["_embedded"]["tools"]] == [f"look{IMG}"]

    log_in(page)
    for section, texts in {
        "users": [IMG],
        "teams": [f"Team {SCRIPT}", IMG],
        "seats": [f"Team {SCRIPT}"],
        "budgets": [f"Cap {SVG}", f"team Team {SCRIPT}"],
        "usage": [],
    }.items():
        page.goto(f"/#/admin/{section}")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Admin")
        expect(page.locator("#page .panel").first).to_be_visible()
        _assert_inert(page, *texts)

    page.goto("/#/admin/toolkits")
    toolkit = page.get_by_role("region", name=f"Toolkit Kit {IMG}")
    toolkit.get_by_role("button", name=f"Tools of Kit {IMG}").click()
    expect(toolkit.get_by_role("list", name=f"Tools of Kit {IMG}")).to_contain_text(f"look{IMG}")
    _assert_inert(page, f"Kit {IMG}", f"look{IMG}", f"Looks things up {SCRIPT}")
    screenshot(page, "xss-admin-toolkits")
