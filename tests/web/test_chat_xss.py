"""Script payloads in messages, answers, titles, assistant and tool names reach the chat page
as text: no injected script runs (the page fixture fails on any script error), `window.__xss`
stays unset and no link points at `javascript:`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.web.chat_steps import ask, last_answer, open_chat, tool_call
from tests.web.conftest import Site, log_in, screenshot

IMG = '<img src=x onerror="window.__xss=1">'
BARE_IMG = "<img src=x onerror=window.__xss=1>"
SCRIPT = "<script>window.__xss=2</script>"
PAYLOAD = "\n\n".join(
    [
        f"Inline {IMG} and {SCRIPT}",
        "[plain js](javascript:window.__xss=3)",
        "[entity js](javascript&#58;window.__xss=4)",
        "[angle js](<javascript:window.__xss=5>)",
        '![image](x" onerror="window.__xss=6)',
        '<a href="javascript:window.__xss=7">raw anchor</a>',
        "[data](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9ODwvc2NyaXB0Pg==)",
        '<svg onload="window.__xss=9"></svg>',
    ]
)


@pytest.fixture(autouse=True)
def _patient_expect() -> Iterator[None]:
    """The first answer in a test process waits for LiteLLM to load (seconds on a busy machine)."""
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)


def _assert_no_script_ran(page: Page) -> None:
    assert page.evaluate("() => window.__xss") is None
    dangerous = page.locator('a[href^="javascript" i], a[href^="data" i], [onerror], [onload]')
    expect(dangerous).to_have_count(0)
    expect(page.locator("#page script, #page iframe, #page svg")).to_have_count(0)


def test_payloads_in_a_message_and_an_answer_render_as_text(page: Page, site: Site) -> None:
    site.upstream.behave("fake", text=PAYLOAD, chunks=5)
    log_in(page)
    ask(page, PAYLOAD)
    mine = page.get_by_role("article", name="Your message")
    expect(mine).to_contain_text(IMG)
    expect(mine).to_contain_text(SCRIPT)
    answer = last_answer(page)
    expect(answer.locator(".markdown")).to_be_visible()  # the rendered (final) form
    expect(answer).to_contain_text(IMG)
    expect(answer).to_contain_text(SCRIPT)
    expect(answer).to_contain_text("raw anchor")
    _assert_no_script_ran(page)

    page.reload()  # saved messages render the same way
    expect(last_answer(page).locator(".markdown")).to_contain_text(IMG)
    expect(page.get_by_role("list", name="Chats")).to_contain_text("<img")
    _assert_no_script_ran(page)
    screenshot(page, "chat-xss")


def test_an_assistant_name_its_starters_and_a_chat_title_with_payloads_are_text(
    page: Page, site: Site
) -> None:
    body = {"name": IMG, "starters": [SCRIPT, "[go](javascript:window.__xss=3)"]}
    site.admin.post("/api/assistants", json=body).raise_for_status()
    site.admin.post("/api/chats", json={"title": SCRIPT}).raise_for_status()
    log_in(page)
    picker = page.get_by_label("Assistant")
    expect(picker.locator("option", has_text=IMG)).to_have_count(1)
    picker.select_option(label=IMG)
    starter = page.get_by_role("button", name=SCRIPT)
    expect(starter).to_be_visible()
    expect(page.get_by_role("list", name="Chats")).to_contain_text(SCRIPT)
    site.upstream.behave("fake", text="Started.", chunks=1)
    starter.click()
    expect(last_answer(page)).to_contain_text("Started.")
    expect(last_answer(page).locator(".msg-head")).to_have_text(f"{IMG} · fake")
    expect(page.get_by_role("article", name="Your message")).to_contain_text(SCRIPT)
    _assert_no_script_ran(page)


def test_a_tool_name_and_arguments_with_payloads_are_text(page: Page, site: Site) -> None:
    name = f"{IMG}{SCRIPT}"
    calls = [[tool_call("x1", name, {"text": BARE_IMG})]]
    site.upstream.behave("fake", text="No such tool.", chunks=1, tool_calls=calls)
    chat = site.admin.post("/api/chats", json={"title": "tools"})
    chat.raise_for_status()
    log_in(page)
    open_chat(page, site.url, chat.json()["id"])
    ask(page, "Call it")
    expect(last_answer(page).locator(".msg-body")).to_contain_text("No such tool.")
    folded = last_answer(page).locator("details.tool-call")
    folded.locator("summary").click()
    expect(folded).to_contain_text(SCRIPT)
    expect(folded.locator(".tool-args")).to_contain_text(BARE_IMG)
    _assert_no_script_ran(page)


def test_a_shared_chat_with_payloads_renders_as_text_for_anyone(page: Page, site: Site) -> None:
    site.upstream.behave("fake", text=PAYLOAD, chunks=2)
    chat = site.admin.post("/api/chats", json={"title": IMG})
    chat.raise_for_status()
    chat_id = chat.json()["id"]
    sent = site.admin.post(f"/api/chats/{chat_id}/messages", json={"content": PAYLOAD})
    sent.raise_for_status()
    share = site.admin.post(f"/api/chats/{chat_id}/shares")
    share.raise_for_status()
    page.goto(f"/#/shared/{share.json()['token']}")
    expect(page.get_by_role("heading", name=IMG)).to_be_visible()
    expect(page.get_by_role("article").first).to_contain_text(SCRIPT)
    _assert_no_script_ran(page)
