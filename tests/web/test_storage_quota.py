"""The storage quota in a real browser: the account page and the library's upload section show
what your files take of your limit, and an upload past it says so in its own row (the library)
or in an alert (a chat's attachment), in the server's words; admins see every user's storage on
the users page and set, lift or clear one user's limit there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

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


def test_an_admin_sees_each_users_storage_and_sets_lifts_and_clears_their_limit(
    page: Page, site: Site
) -> None:
    lena = site.user("lena")
    gone = site.user("gone")
    uploaded = site.admin.post("/api/library/files", files=[("files", ("a.txt", TEXT))])
    assert uploaded.status_code == 201, uploaded.text
    log_in(page)
    page.goto("/#/admin/users")
    panel = page.get_by_role("region", name="Storage limits")
    table = panel.get_by_role("table", name="Storage")
    lena_row = table.get_by_role("row").filter(has_text="lena")
    admin_row = table.get_by_role("row").filter(has_text="admin")
    expect(admin_row).to_contain_text("600 bytes")
    expect(admin_row).to_contain_text("1000 bytes (default)")
    expect(lena_row).to_contain_text("0 bytes")
    expect(lena_row).to_contain_text("1000 bytes (default)")

    change = panel.get_by_role("form", name="Storage limit")
    change.get_by_label("User").select_option(label="lena")
    change.get_by_label("Limit").fill("2")
    expect(change.get_by_label("Unit")).to_have_value("1048576")
    change.get_by_role("button", name="Set limit").click()
    expect(page.get_by_role("status")).to_contain_text("lena: 2 MiB (set for this user).")
    expect(lena_row).to_contain_text("2 MiB (set for this user)")
    assert site.admin.get(f"/api/users/{lena}/storage").json()["ownLimitBytes"] == 2 * 1024 * 1024

    change.get_by_label("Limit").fill("0")
    change.get_by_role("button", name="Set limit").click()
    expect(lena_row).to_contain_text("no limit (set for this user)")

    # Past what the server takes: said in an alert, the limit unchanged.
    change.get_by_label("Limit").fill("9000000000")
    change.get_by_label("Unit").select_option(label="GiB")
    change.get_by_role("button", name="Set limit").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "A limit can be at most 4194304 TiB; 0 means no limit."
    )
    expect(lena_row).to_contain_text("no limit (set for this user)")
    accessible(page, "the admin's storage limits with a refused limit")
    # A user removed since the page loaded: the server's words.
    assert site.admin.delete(f"/api/users/{gone}").status_code == 204
    change.get_by_label("User").select_option(label="gone")
    change.get_by_label("Limit").fill("1")
    change.get_by_role("button", name="Set limit").click()
    expect(page.get_by_role("alert").filter(has_text="No such user.")).to_be_visible()
    change.get_by_label("User").select_option(label="lena")

    change.get_by_role("button", name="Use the default").click()
    expect(lena_row).to_contain_text("1000 bytes (default)")
    assert site.admin.get(f"/api/users/{lena}/storage").json()["ownLimitBytes"] is None

    change.get_by_label("User").select_option(label="admin")
    change.get_by_label("Unit").select_option(label="bytes")
    change.get_by_label("Limit").fill("500")
    change.get_by_role("button", name="Set limit").click()
    expect(admin_row).to_contain_text("500 bytes (set for this user)")
    expect(admin_row.get_by_text("full", exact=True)).to_be_visible()
    screenshot(page, "admin-storage-limits")
    accessible(page, "the admin's storage limits")

    new_user = page.get_by_role("form", name="New user")
    new_user.get_by_label("Username").fill("nia")
    new_user.get_by_label("Password").fill("a-long-password-1")
    new_user.get_by_role("button", name="Add user").click()
    expect(table.get_by_role("row").filter(has_text="nia")).to_contain_text("1000 bytes (default)")
    expect(change.get_by_label("User").locator("option", has_text="nia")).to_have_count(1)


def test_a_member_sees_no_storage_limits(browser: Browser, site: Site) -> None:
    site.user("mo", password="a-long-password-1")
    context = browser.new_context(base_url=site.url)
    try:
        member = context.new_page()
        log_in(member, "mo", "a-long-password-1")
        member.goto("/#/admin/users")
        member.wait_for_url(re.compile(r"#/chat"))
        expect(member.get_by_role("region", name="Storage limits")).to_have_count(0)
        expect(member.get_by_role("link", name="Admin")).to_have_count(0)
        denied = member.request.get(f"{site.url}/api/users/storage")
        assert denied.status == 403
    finally:
        context.close()
