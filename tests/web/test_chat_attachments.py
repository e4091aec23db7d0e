"""Attaching an image in the chat page: dropped on the composer, shown as a thumbnail while it
uploads, refused for a model that cannot see (kept to send again), sent with the message to a
model that can, and shown on the sent message."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.fakes.upstream import FakeUpstream
from tests.support import make_catalog
from tests.web.chat_steps import ask, last_answer
from tests.web.conftest import Site, accessible, log_in, screenshot, site_with

pytestmark = pytest.mark.browser


def _png(size: int = 16) -> bytes:
    """A small red square as a real PNG."""

    def part(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xd0\x30\x30" * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + part(b"IHDR", header)
        + part(b"IDAT", zlib.compress(rows))
        + part(b"IEND", b"")
    )


@pytest.fixture
def site(upstream: FakeUpstream, tmp_path: Path) -> Iterator[Site]:
    """The app with a model that can see (`fake-eyes`) beside the fake ones."""
    catalog = make_catalog(upstream.base_url, **{"fake-eyes": {"supports_vision": True}})
    with site_with(upstream, tmp_path, catalog=catalog) as started:
        yield started


def test_an_image_dropped_on_the_composer_is_shown_sent_and_seen(page: Page, site: Site) -> None:
    log_in(page)
    expect(page.get_by_label("Model")).to_have_value("fake")  # cannot see
    dropped = page.evaluate_handle(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], 'red.png', { type: 'image/png' }));
            return transfer;
        }""",
        base64.b64encode(_png()).decode(),
    )
    page.dispatch_event("form.composer", "drop", {"dataTransfer": dropped})
    tray = page.get_by_role("list", name="Attached files")
    expect(tray.get_by_role("img", name="red.png")).to_be_visible()
    expect(tray.get_by_role("progressbar")).to_have_count(0)  # uploaded
    ask(page, "What colour is this square?")
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("fake cannot see images; models that can: fake-eyes.")
    expect(tray.get_by_role("img", name="red.png")).to_be_visible()  # kept to send again
    page.get_by_label("Model").select_option("fake-eyes")
    page.get_by_label("Message", exact=True).press("Enter")
    # The first answer of a server waits for LiteLLM to load (seconds on a busy machine).
    expect(last_answer(page)).to_contain_text("quick brown fox", timeout=30_000)
    sent = page.locator(".message-attachments").get_by_role("img", name="red.png")
    expect(sent).to_be_visible()
    expect(page.locator(".message-attachments")).to_contain_text("shown as an image")
    loaded = "(img) => img.complete && img.naturalWidth === 16"  # from the chat's attachment
    page.wait_for_function(loaded, arg=sent.element_handle(), timeout=10_000)
    expect(tray.get_by_role("img")).to_have_count(0)
    user = site.upstream.recorder.requests[-1]["messages"][-1]
    assert [part["type"] for part in user["content"]] == ["text", "image_url"]
    screenshot(page, "chat-attachment-sent")
    accessible(page, "chat with a sent image")
