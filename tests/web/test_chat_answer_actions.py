"""Under an answer on the page: Edit (inline, Esc cancels), Continue and Branch, by keyboard."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.web.chat_steps import ask, last_answer, open_chat
from tests.web.conftest import Site, accessible, log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _patient_expect() -> Iterator[None]:
    """The first answer in a test process waits for LiteLLM to load (seconds on a busy machine)."""
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)


def test_an_answer_is_edited_inline_continued_and_branched_off_by_keyboard(
    page: Page, site: Site
) -> None:
    site.upstream.behave("fake", text="Paris is in Italy.", chunks=2)
    made = site.admin.post("/api/chats", json={"title": "Geography"})
    made.raise_for_status()
    chat_id = str(made.json()["id"])
    log_in(page)
    open_chat(page, site.url, chat_id)
    ask(page, "Where is Paris?")
    answer = last_answer(page)
    body = answer.locator(".msg-body")
    expect(body).to_have_text("Paris is in Italy.")

    edit = answer.get_by_role("button", name="Edit this answer")
    edit.focus()
    page.keyboard.press("Enter")
    editor = answer.get_by_role("textbox", name="Edit this answer")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("Paris is in Italy.")
    accessible(page, "an answer's inline editor")
    screenshot(page, "chat-answer-editor")
    page.keyboard.press("Escape")
    expect(editor).to_have_count(0)
    expect(body).to_have_text("Paris is in Italy.")
    expect(edit).to_be_focused()

    page.keyboard.press("Enter")
    editor.fill("Paris is in France.")
    answer.get_by_role("button", name="Save").click()
    expect(last_answer(page).locator(".msg-body")).to_have_text("Paris is in France.")
    expect(last_answer(page).locator(".msg-figures")).to_contain_text("edited")
    screenshot(page, "chat-answer-actions")
    saved = site.admin.get(f"/api/chats/{chat_id}/messages").json()["_embedded"]["messages"]
    assert (saved[-1]["content"], saved[-1]["originalContent"]) == (
        "Paris is in France.",
        "Paris is in Italy.",
    )

    site.upstream.behave("fake", text=" It is its capital.", chunks=2)
    last_answer(page).get_by_role("button", name="Continue this answer").focus()
    page.keyboard.press("Enter")
    expect(last_answer(page).locator(".msg-body")).to_have_text(
        "Paris is in France. It is its capital."
    )
    expect(page.get_by_role("article", name="Answer")).to_have_count(1)

    last_answer(page).get_by_role("button", name="Branch off into a new chat").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#/chat/(?!" + chat_id + r")\w+$"))
    expect(page.locator(".chat-heading")).to_have_text("Geography (branch)")
    expect(last_answer(page).locator(".msg-body")).to_have_text(
        "Paris is in France. It is its capital."
    )
