"""The storage quota in a real browser: the account page and the library's upload section show
what your files take of your limit, and an upload past it says so in its own row (the library)
or in an alert (a chat's attachment), in the server's words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, Page, expect

from tests.fakes.upstream import FakeUpstream
from tests.web.conftest import Site, accessible, log_in, screenshot, site_with

pytestmark = pytest.mark.browser
LIMIT = 1000
TEXT = (b"The quick brown fox jumps over the lazy dog. " * 14)[:600]


@pytest.fixture
def site(upstream: FakeUpstream, tmp_path: Path) -> Iterator[Site]:
    with site_with(
        upstream, tmp_path, embedding_backend="hash", max_storage_bytes_per_user=LIMIT
    ) as started:
        yield started


def _payload(name: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": "text/plain", "buffer": data}


def test_storage_is_shown_and_an_upload_past_the_limit_says_whose_and_what_to_do(
    page: Page, site: Site
) -> None:
    log_in(page)
    page.goto("/#/account")
    panel = page.get_by_role("region", name="Storage")
    expect(panel).to_contain_text("Your files take 0 bytes of 1000 bytes (1000 bytes left).")
    expect(panel.get_by_label("Storage used")).to_have_attribute("value", "0")

    page.goto("/#/library")
    line = page.locator("p.storage")
    expect(line).to_contain_text("Your files take 0 bytes of 1000 bytes (1000 bytes left).")
    picker = page.get_by_label("Files to upload")
    picker.set_input_files([_payload("first.txt", TEXT)])
    page.get_by_role("button", name="Upload", exact=True).click()
    uploads = page.get_by_role("list", name="Uploads")
    expect(uploads.get_by_text("uploaded")).to_have_count(1)
    expect(line).to_contain_text("Your files take 600 bytes of 1000 bytes (400 bytes left).")
    expect(line.get_by_label("Storage used")).to_have_attribute("value", "0.6")

    picker.set_input_files([_payload("second.txt", TEXT.replace(b"fox", b"cat"))])
    page.get_by_role("button", name="Upload", exact=True).click()
    refused = uploads.get_by_role("listitem").filter(has_text="second.txt")
    expect(refused).to_contain_text(
        "These files (600 bytes) would take your stored files over your limit of 1000 bytes: "
        "they take 600 bytes now. Delete chat attachments or library files you no longer need, "
        "or ask an admin to raise your limit."
    )
    expect(line).to_contain_text("600 bytes of 1000 bytes")
    screenshot(page, "library-storage-full")
    accessible(page, "the library with an upload refused by the storage quota")

    page.goto("/#/chat")
    page.locator("#composer-files").set_input_files([_payload("notes.txt", TEXT)])
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("notes.txt: These files (600 bytes) would take your stored files")
    expect(alert).to_contain_text("ask an admin to raise your limit")

    page.goto("/#/account")
    expect(panel).to_contain_text("Your files take 600 bytes of 1000 bytes (400 bytes left).")
    expect(panel).to_contain_text("Chat attachments: 0 bytes.")
    screenshot(page, "account-storage")
    accessible(page, "the account page with its storage panel")
