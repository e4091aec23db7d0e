"""Chat features on the page: tool calls and approvals, citations, branches, sharing, export and
the chat list's actions."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.fakes.upstream import FakeUpstream
from tests.support import ADMIN, PASSWORD, live_server, make_catalog
from tests.toolkits.servers import build_tool_server, mcp_app, serve
from tests.web.chat_steps import ask, last_answer, open_chat, tool_call
from tests.web.conftest import Site, log_in, screenshot


@pytest.fixture
def tool_port() -> Iterator[int]:
    """An MCP server on loopback whose `echo` tool has side effects (needs approval)."""
    with serve(mcp_app(build_tool_server())) as port:
        yield port


@pytest.fixture
def site(upstream: FakeUpstream, tmp_path: Path, tool_port: int) -> Iterator[Site]:
    """The app with the loopback tool server allowed and fast hashed embeddings."""
    settings = {"toolkit_allowed_hosts": [f"127.0.0.1:{tool_port}"], "embedding_backend": "hash"}
    with (
        live_server(make_catalog(upstream.base_url), tmp_path, **settings) as url,
        httpx.Client(base_url=url, timeout=30) as admin,
    ):
        login = admin.post("/api/auth/login", json={"username": ADMIN, "password": PASSWORD})
        login.raise_for_status()
        admin.headers["X-CSRF-Token"] = login.json()["csrfToken"]
        yield Site(url=url, upstream=upstream, admin=admin)


def _tool_chat(site: Site, port: int) -> tuple[str, str]:
    """A toolkit on the loopback server and a chat using it: (toolkit id, chat id)."""
    body = {"name": "loopback", "kind": "mcp_http", "url": f"http://127.0.0.1:{port}/mcp"}
    made = site.admin.post("/api/toolkits", json=body)
    made.raise_for_status()
    kit = str(made.json()["id"])
    site.admin.post(f"/api/toolkits/{kit}/_refresh").raise_for_status()
    chat = site.admin.post("/api/chats", json={"toolkitIds": [kit], "title": "Tools"})
    chat.raise_for_status()
    return kit, str(chat.json()["id"])


@pytest.mark.parametrize("approve", [True, False])
def test_a_tool_with_side_effects_asks_and_the_answer_goes_on(
    page: Page, site: Site, tool_port: int, approve: bool
) -> None:
    kit, chat_id = _tool_chat(site, tool_port)
    calls = [[tool_call("e1", f"{kit}__echo", {"text": "hi"})]]
    site.upstream.behave("fake", text="All done.", chunks=1, tool_calls=calls)
    log_in(page)
    open_chat(page, site.url, chat_id)
    ask(page, "Echo hi")
    prompt = last_answer(page).locator(".tool-approval")
    expect(prompt).to_contain_text("wants to run")
    expect(prompt).to_contain_text('"text": "hi"')
    prompt.get_by_role("button", name="Allow" if approve else "Refuse").click()
    expect(last_answer(page).locator(".msg-body")).to_contain_text("All done.")
    folded = last_answer(page).locator("details.tool-call")
    expect(folded).not_to_have_attribute("open", "")
    expect(folded.locator("summary")).to_contain_text("done" if approve else "failed")
    folded.locator("summary").click()
    result = folded.locator(".tool-result")
    expect(result).to_have_text("echo: hi" if approve else re.compile("refused", re.I))
    if approve:
        folded.locator("summary").click()
        screenshot(page, "chat-tool-call-folded")


def _wait_indexed(site: Site, file_id: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        status = site.admin.get(f"/api/library/files/{file_id}").json()["status"]
        if status == "indexed":
            return
        assert status != "failed" and time.monotonic() < deadline, status
        time.sleep(0.1)  # polling the API for the indexer, not waiting on the page


def test_a_citation_of_an_uploaded_file_links_to_its_passage(page: Page, site: Site) -> None:
    text = b"Pump model HV-2290 must be primed with water before its first start."
    uploaded = site.admin.post("/api/library/files", files=[("files", ("pumps.txt", text))])
    uploaded.raise_for_status()
    file_id = uploaded.json()["_embedded"]["files"][0]["id"]
    _wait_indexed(site, file_id)
    chat = site.admin.post("/api/chats", json={"fileIds": [file_id]})
    chat.raise_for_status()
    site.upstream.behave("fake", text="Prime it with water first [1].", chunks=3)
    log_in(page)
    open_chat(page, site.url, chat.json()["id"])
    ask(page, "How do I start pump HV-2290?")
    sources = last_answer(page).get_by_role("navigation", name="Sources")
    link = sources.get_by_role("link", name=re.compile(r"\[1\] pumps\.txt"))
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(re.compile(rf"#/files/{file_id}/passages/0$"))
    expect(page.get_by_role("list", name="Passages")).to_contain_text("HV-2290")
