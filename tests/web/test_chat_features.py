"""Chat features on the page: tool calls and approvals, citations, branches, sharing, export and
the chat list's actions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests.fakes.upstream import FakeUpstream
from tests.support import eventually_blocking
from tests.toolkits.servers import build_tool_server, mcp_app, serve
from tests.web.chat_steps import ask, last_answer, open_chat, tool_call
from tests.web.conftest import Site, accessible, log_in, screenshot, site_with


@pytest.fixture(autouse=True)
def _patient_expect() -> Iterator[None]:
    """The first answer in a test process waits for LiteLLM to load (seconds on a busy machine)."""
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture
def tool_port() -> Iterator[int]:
    """An MCP server on loopback whose `echo` tool has side effects (needs approval)."""
    with serve(mcp_app(build_tool_server())) as port:
        yield port


@pytest.fixture
def site(upstream: FakeUpstream, tmp_path: Path, tool_port: int) -> Iterator[Site]:
    """The app with the loopback tool server allowed and fast hashed embeddings."""
    settings = {"toolkit_allowed_hosts": [f"127.0.0.1:{tool_port}"], "embedding_backend": "hash"}
    with site_with(upstream, tmp_path, **settings) as started:
        yield started


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

    def indexed() -> bool:  # polling the API for the indexer, not waiting on the page
        status = site.admin.get(f"/api/library/files/{file_id}").json()["status"]
        if status == "failed":
            pytest.fail(f"the file failed to index: {status}")
        return bool(status == "indexed")

    eventually_blocking(indexed, seconds=60, interval=0.1)


def test_a_citation_of_an_uploaded_file_links_to_its_passage(page: Page, site: Site) -> None:
    text = b"Pump model HV-2290 must be primed with water before its first start."
    name = "pumps<img src=x onerror=window.__xss=1>.txt"  # a hostile name shows as text
    uploaded = site.admin.post("/api/library/files", files=[("files", (name, text))])
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
    link = sources.get_by_role("link", name=f"[1] {name}")
    expect(link).to_be_visible()
    assert page.evaluate("() => window.__xss") is None
    link.click()
    expect(page).to_have_url(re.compile(rf"#/files/{file_id}/passages/0$"))
    expect(page.get_by_role("list", name="Passages")).to_contain_text("HV-2290")


def test_editing_an_earlier_message_answers_on_a_new_branch_and_both_stay(
    page: Page, site: Site
) -> None:
    site.upstream.behave("fake", text="Answer one.", chunks=1)
    log_in(page)
    ask(page, "First question")
    expect(last_answer(page)).to_contain_text("Answer one.")
    site.upstream.behave("fake", text="Answer two.", chunks=1)
    mine = page.get_by_role("article", name="Your message")
    mine.get_by_role("button", name="Edit").click()
    mine.get_by_label("Edit your message").fill("Second question")
    mine.get_by_role("button", name="Save and answer").click()
    expect(last_answer(page)).to_contain_text("Answer two.")
    versions = mine.get_by_role("group", name="Versions")
    expect(versions).to_contain_text("2/2")
    expect(mine).to_contain_text("Second question")
    versions.get_by_role("button", name="Previous version").click()
    expect(mine).to_contain_text("First question")
    expect(last_answer(page)).to_contain_text("Answer one.")
    expect(mine.get_by_role("group", name="Versions")).to_contain_text("1/2")


def test_a_share_link_shows_a_read_only_copy_until_it_is_revoked(page: Page, site: Site) -> None:
    site.upstream.behave("fake", text="Shared **answer**.", chunks=1)
    log_in(page)
    ask(page, "Worth sharing")
    expect(last_answer(page)).to_contain_text("Shared answer.")
    page.get_by_role("button", name="Share").click()
    panel = page.get_by_role("region", name="Share links")
    panel.get_by_role("button", name="Create link").click()
    link = panel.get_by_label("Share link")
    expect(link).to_have_value(re.compile(r"#/shared/"))
    url = link.input_value()
    accessible(page, "a chat with its share panel open")

    assert page.context.browser is not None
    stranger = page.context.browser.new_context()
    try:
        reader = stranger.new_page()
        reader.goto(url)
        expect(reader.get_by_role("heading", name="Worth sharing")).to_be_visible()
        expect(reader.get_by_role("article").last).to_contain_text("Shared answer.")
        expect(reader.locator(".markdown strong")).to_have_text("answer")  # rendered, no login
        expect(reader.get_by_role("textbox")).to_have_count(0)  # nothing to write with
        screenshot(reader, "shared-chat")
        accessible(reader, "a shared chat, read by someone not signed in")

        panel.get_by_role("button", name="Revoke").click()
        expect(panel).to_contain_text("revoked")
        reader.reload()
        expect(reader.get_by_role("alert")).to_contain_text("revoked")
    finally:
        stranger.close()


def test_a_chat_exports_as_markdown_and_json(page: Page, site: Site) -> None:
    site.upstream.behave("fake", text="Exported answer.", chunks=1)
    log_in(page)
    ask(page, "Export me")
    expect(last_answer(page)).to_contain_text("Exported answer.")
    with page.expect_download() as markdown:
        page.get_by_role("link", name="Export Markdown").click()
    assert markdown.value.suggested_filename.endswith(".md")
    text = Path(markdown.value.path()).read_text()
    assert "Export me" in text and "Exported answer." in text
    with page.expect_download() as as_json:
        page.get_by_role("link", name="Export JSON").click()
    assert as_json.value.suggested_filename.endswith(".json")
    assert "Exported answer." in Path(as_json.value.path()).read_text()


def test_a_late_answer_for_an_older_filter_never_replaces_the_newer_list(
    page: Page, site: Site
) -> None:
    folder = site.admin.post("/api/chat-folders", json={"name": "Work"}).json()
    site.admin.post("/api/chats", json={"title": "Alpha plan"})
    beta = site.admin.post("/api/chats", json={"title": "Beta plan"}).json()
    site.admin.patch(f"/api/chats/{beta['id']}", json={"folderId": folder["id"]})
    log_in(page)
    chats = page.get_by_role("list", name="Chats")
    expect(chats.get_by_role("link")).to_have_count(2)
    held: list[Route] = []

    def hold_unfiltered(route: Route) -> None:
        if "folderId=" in route.request.url:
            route.continue_()
        else:
            held.append(route)

    page.route(re.compile(r"/api/chats\?"), hold_unfiltered)
    with page.expect_request(lambda r: "/api/chats?" in r.url and "folderId" not in r.url):
        page.get_by_label("Search chats").fill("plan")  # its answer (both chats) is held back
    page.get_by_label("Folder", exact=True).select_option(label="Work")
    expect(chats.get_by_role("link")).to_have_count(1)
    assert len(held) == 1
    with page.expect_response(lambda r: "/api/chats?" in r.url and "folderId" not in r.url):
        held[0].continue_()
    page.evaluate("() => new Promise((done) => setTimeout(done, 100))")  # let the page take it
    expect(chats.get_by_role("link")).to_have_count(1)
    expect(chats).to_contain_text("Beta")


def test_the_chat_list_searches_renames_pins_archives_files_and_deletes(
    page: Page, site: Site
) -> None:
    for title, words in (("Zoo trip", "zebra stripes"), ("Budget", "numbers"), ("Old", "x")):
        chat = site.admin.post("/api/chats", json={"title": title}).json()
        site.admin.post(f"/api/chats/{chat['id']}/messages", json={"content": words})
    log_in(page)
    chats = page.get_by_role("list", name="Chats")
    expect(chats.get_by_role("link")).to_have_count(3)

    page.get_by_label("Search chats").fill("zebra")
    expect(chats.get_by_role("link")).to_have_count(1)
    expect(chats).to_contain_text("Zoo trip")
    expect(chats).to_contain_text("zebra stripes")  # the snippet of the matching message
    page.get_by_label("Search chats").fill("")
    expect(chats.get_by_role("link")).to_have_count(3)

    def menu(title: str) -> Locator:
        item = chats.get_by_role("listitem").filter(has_text=title)
        item.get_by_label(f"Actions for {title}").click()
        return item

    def act(title: str, action: str) -> None:
        menu(title).get_by_role("button", name=action).click()

    act("Budget", "Rename")
    chats.get_by_label("Chat title").fill("Budget 2027")
    chats.get_by_role("button", name="Save").click()
    expect(chats).to_contain_text("Budget 2027")

    act("Old", "Pin")
    expect(chats.get_by_role("link").first).to_contain_text("Old")
    expect(chats.get_by_label("Pinned")).to_have_count(1)

    act("Zoo trip", "Archive")
    expect(chats.get_by_role("link")).to_have_count(2)
    page.get_by_label("Archived").check()
    expect(chats.get_by_role("link")).to_have_count(1)
    expect(chats).to_contain_text("Zoo trip")
    page.get_by_label("Archived").uncheck()

    page.once("dialog", lambda dialog: dialog.accept("Work"))
    page.get_by_role("button", name="New folder").click()
    expect(page.get_by_label("Folder", exact=True)).to_have_value(re.compile(r"\w+"))
    expect(chats.get_by_role("link")).to_have_count(0)
    page.get_by_label("Folder", exact=True).select_option(label="All folders")
    menu("Budget 2027").get_by_label("Move to folder").select_option(label="Work")
    page.get_by_label("Folder", exact=True).select_option(label="Work")
    expect(chats.get_by_role("link")).to_have_count(1)
    expect(chats).to_contain_text("Budget 2027")
    page.once("dialog", lambda dialog: dialog.accept("Work 2027"))
    page.get_by_role("button", name="Rename folder").click()
    expect(page.get_by_label("Folder", exact=True)).to_contain_text("Work 2027")
    page.get_by_label("Folder", exact=True).select_option(label="All folders")
    expect(chats.get_by_role("link")).to_have_count(2)  # reloaded: menus are the new list's

    act("Budget 2027", "Tags")
    chats.get_by_label("Tags, separated by commas").fill("q3, finance")
    chats.get_by_role("button", name="Save").click()
    expect(chats).to_contain_text("#q3 #finance")

    page.once("dialog", lambda dialog: dialog.accept())
    act("Old", "Delete")
    expect(chats.get_by_role("link")).to_have_count(1)
    expect(chats).not_to_contain_text("Old")

    page.get_by_label("Folder", exact=True).select_option(label="Work 2027")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete folder").click()
    expect(page.get_by_label("Folder", exact=True)).not_to_contain_text("Work 2027")
    expect(chats).to_contain_text("Budget 2027")  # a folder's chats outlive it
