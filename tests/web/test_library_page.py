"""The library and file pages in a real browser: folders, uploads with progress, live indexing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from tests.fakes.upstream import FakeUpstream
from tests.web.chat_steps import ask, last_answer, open_chat
from tests.web.conftest import Site, accessible, log_in, screenshot, site_with

MANUAL = "\n\n".join(
    f"Section {n}. The HV-{n} pump must be primed with {n} litres of water before use."
    for n in range(1, 40)
)


@pytest.fixture
def site(upstream: FakeUpstream, tmp_path: Path) -> Iterator[Site]:
    """The app with the small deterministic embedder, so indexing takes moments."""
    with site_with(upstream, tmp_path, embedding_backend="hash") as started:
        yield started


def _payload(name: str, text: str) -> FilePayload:
    return {"name": name, "mimeType": "text/plain", "buffer": text.encode()}


def test_uploading_several_files_shows_a_progress_bar_each_and_they_get_indexed(
    page: Page, site: Site
) -> None:
    log_in(page)
    page.goto("/#/library")
    page.get_by_role("textbox", name="New folder").fill("Manuals")
    page.get_by_role("button", name="Add folder").click()
    expect(page.get_by_role("heading", name="Manuals", level=1)).to_be_visible()

    page.get_by_label("Files to upload").set_input_files(
        [_payload("pumps.txt", MANUAL), _payload("valves.txt", "Valves open clockwise.")]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    uploads = page.get_by_role("list", name="Uploads")
    for name in ("pumps.txt", "valves.txt"):
        bar = uploads.get_by_role("progressbar", name=f"Uploading {name}")
        expect(bar).to_have_attribute("value", "1")
    expect(uploads.get_by_text("uploaded")).to_have_count(2)

    files = page.get_by_role("table", name="Files")
    for name in ("pumps.txt", "valves.txt"):
        row = files.get_by_role("row").filter(has_text=name)
        expect(row.get_by_text("indexed", exact=True)).to_be_visible()
    screenshot(page, "library")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "library-dark")
    page.emulate_media(color_scheme="light")
    accessible(page, "the library with two indexed files")

    listed = site.admin.get("/api/library/files").json()["_embedded"]["files"]
    assert {f["name"]: f["status"] for f in listed} == {
        "pumps.txt": "indexed",
        "valves.txt": "indexed",
    }
    assert all(f["folderId"] for f in listed)


def test_an_unsupported_file_says_why_in_its_own_row(page: Page, site: Site) -> None:
    log_in(page)
    page.goto("/#/library")
    binary: FilePayload = {
        "name": "tool.exe",
        "mimeType": "application/octet-stream",
        "buffer": b"MZ\x90\x00" + bytes(range(256)) * 4,
    }
    page.get_by_label("Files to upload").set_input_files([binary, _payload("ok.txt", "Fine.")])
    page.get_by_role("button", name="Upload", exact=True).click()
    uploads = page.get_by_role("list", name="Uploads")
    expect(uploads.get_by_role("listitem").filter(has_text="tool.exe")).to_contain_text(
        re.compile("type|support", re.I)
    )
    expect(uploads.get_by_role("listitem").filter(has_text="ok.txt")).to_contain_text("uploaded")


def test_reindex_and_delete_from_the_library(page: Page, site: Site) -> None:
    uploaded = site.admin.post(
        "/api/library/files", files=[("files", ("notes.txt", b"Some notes about pumps."))]
    )
    assert uploaded.status_code == 201, uploaded.text
    log_in(page)
    page.goto("/#/library")
    row = page.get_by_role("table", name="Files").get_by_role("row").filter(has_text="notes.txt")
    expect(row.get_by_text("indexed", exact=True)).to_be_visible()
    row.get_by_text("Preview").click()
    expect(row.get_by_role("listitem")).to_contain_text("Some notes about pumps.")
    row.get_by_role("button", name="Reindex").click()
    expect(page.get_by_text("Indexing again.")).to_be_visible()
    expect(row.get_by_text("indexed", exact=True)).to_be_visible()

    row.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_text("No files here yet")).to_be_visible()
    assert site.admin.get("/api/library/files").json()["total"] == 0


def test_the_file_page_scrolls_to_and_highlights_the_cited_passage(page: Page, site: Site) -> None:
    uploaded = site.admin.post("/api/library/files", files=[("files", ("pumps.txt", MANUAL))])
    file_id = uploaded.json()["_embedded"]["files"][0]["id"]
    log_in(page)
    page.goto(f"/#/files/{file_id}/passages/2")
    passages = page.get_by_role("list", name="Passages")
    expect(passages.get_by_role("listitem").first).to_be_visible()
    chunks = site.admin.get(f"/api/library/files/{file_id}/chunks").json()["_embedded"]["chunks"]
    assert len(chunks) > 2, "the sample must make several passages"
    highlighted = page.locator(".chunk.highlight")
    expect(highlighted).to_have_count(1)
    expect(highlighted).to_have_attribute("id", "passage-2")
    expect(highlighted).to_contain_text(chunks[2]["text"][:40])
    expect(highlighted).to_be_in_viewport()
    expect(page.get_by_role("heading", name="pumps.txt")).to_be_visible()
    screenshot(page, "file-passage")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "file-passage-dark")
    page.emulate_media(color_scheme="light")
    accessible(page, "a file's cited passage")


def test_library_on_a_phone_in_dark_mode(browser: Browser, site: Site) -> None:
    site.admin.post("/api/library/files", files=[("files", ("phone.txt", b"Small screens."))])
    context = browser.new_context(
        base_url=site.url, viewport={"width": 390, "height": 844}, color_scheme="dark"
    )
    try:
        phone = context.new_page()
        errors: list[str] = []
        phone.on("pageerror", lambda error: errors.append(str(error)))
        log_in(phone)
        phone.goto("/#/library")
        expect(phone.get_by_text("indexed", exact=True)).to_be_visible()
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px screen"
        screenshot(phone, "library-phone-dark")
        assert not errors
    finally:
        context.close()


def test_a_citation_in_a_chat_opens_the_cited_passage_highlighted(page: Page, site: Site) -> None:
    uploaded = site.admin.post("/api/library/files", files=[("files", ("pumps.txt", MANUAL))])
    file_id = uploaded.json()["_embedded"]["files"][0]["id"]
    log_in(page)
    page.goto("/#/library")
    expect(page.get_by_text("indexed", exact=True)).to_be_visible()
    chat = site.admin.post("/api/chats", json={"model": "fake", "fileIds": [file_id]})
    chat.raise_for_status()
    site.upstream.behave("fake", text="Prime HV-17 with 17 litres [1].")
    open_chat(page, site.url, chat.json()["id"])
    ask(page, "How many litres does the HV-17 pump need?")
    citation = last_answer(page).get_by_role("link", name=re.compile(r"^\[1\] pumps\.txt"))
    # The first call through LiteLLM in a fresh app pays for importing it (seconds).
    expect(citation).to_be_visible(timeout=20_000)
    messages = site.admin.get(f"/api/chats/{chat.json()['id']}/messages").json()
    cited = messages["_embedded"]["messages"][-1]["citations"][0]
    citation.click()
    highlighted = page.locator(".chunk.highlight")
    expect(highlighted).to_have_attribute("id", f"passage-{cited['chunkIndex']}")
    expect(highlighted).to_be_in_viewport()
    chunks = site.admin.get(f"/api/library/files/{file_id}/chunks").json()["_embedded"]["chunks"]
    expect(highlighted).to_contain_text(chunks[cited["chunkIndex"]]["text"][:40])
