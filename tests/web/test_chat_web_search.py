"""Web search on the chat page: the answer's sources are the pages found, as links."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.fakes.searxng import FakeSearxng
from tests.fakes.upstream import FakeUpstream
from tests.toolkits.servers import serve
from tests.web.chat_steps import ask, last_answer, open_chat, tool_call
from tests.web.conftest import Site, log_in, screenshot, site_with


@pytest.fixture
def site(upstream: FakeUpstream, tmp_path: Path) -> Iterator[Site]:
    """The app searching the web through a fake SearXNG on loopback (allowed by the admin)."""
    with serve(FakeSearxng().app()) as port:
        settings = {
            "web_search_url": f"http://127.0.0.1:{port}",
            "toolkit_allowed_hosts": [f"127.0.0.1:{port}"],
        }
        with site_with(upstream, tmp_path, **settings) as started:
            yield started


def test_a_web_search_answer_links_its_sources(page: Page, site: Site) -> None:
    chat = site.admin.post("/api/chats", json={"toolkitIds": ["builtin-web-search"]})
    chat.raise_for_status()
    calls = [[tool_call("w1", "builtin-web-search__web_search", {"query": "solar wind"})]]
    site.upstream.behave("fake", text="The solar wind is fast [1].", chunks=2, tool_calls=calls)
    log_in(page)
    open_chat(page, site.url, chat.json()["id"])
    ask(page, "How fast is the solar wind?")
    # the first answer of a test process waits for LiteLLM to load
    expect(last_answer(page).locator(".msg-body")).to_contain_text("is fast", timeout=30_000)
    sources = last_answer(page).get_by_role("navigation", name="Sources")
    link = sources.get_by_role("link", name="[1] solar wind — page 1 · example.org")
    expect(link).to_have_attribute("href", "https://example.org/solar-wind/1")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(sources.get_by_role("link")).to_have_count(3)
    screenshot(page, "chat-web-search-sources")
