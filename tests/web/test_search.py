"""The chat page's search box also searches everywhere (GET /api/search), marks stay text-safe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.fakes.upstream import FakeUpstream
from tests.web.conftest import Site, log_in, site_with

pytestmark = pytest.mark.browser


@pytest.fixture
def site(upstream: FakeUpstream, tmp_path: Path) -> Iterator[Site]:
    with site_with(upstream, tmp_path, embedding_backend="hash") as started:
        yield started


def test_the_search_box_lists_messages_and_assistants_with_marked_words(
    page: Page, site: Site
) -> None:
    site.admin.post("/api/assistants", json={"name": "Okapi guide"}).raise_for_status()
    chat = site.admin.post("/api/chats", json={"title": "Notes"}).json()
    site.admin.post(
        f"/api/chats/{chat['id']}/messages", json={"content": "okapi <b>stripes</b>"}
    ).raise_for_status()
    log_in(page)
    page.get_by_label("Search chats").fill("okap")
    found = page.get_by_role("list", name="Found everywhere")
    expect(found.get_by_role("link", name="Assistant: Okapi guide")).to_be_visible()
    message = found.get_by_role("listitem").filter(has_text="Message: Notes")
    expect(message.locator("mark")).to_have_text("okapi")
    expect(message).to_contain_text("<b>stripes</b>")  # the user's markup shown as text
    assert message.locator("b").count() == 0
    page.get_by_label("Search chats").fill("")
    expect(page.get_by_role("list", name="Found everywhere")).to_be_hidden()
