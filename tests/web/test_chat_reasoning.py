"""A reasoning model's thinking on the chat page: it streams into a folded "Thinking…" above the
answer, opens by keyboard (and stays open), then says how long the model thought; text, never
markup."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.web.chat_steps import ask, last_answer
from tests.web.conftest import Site, accessible, log_in, screenshot

pytestmark = pytest.mark.browser
THOUGHT = "The user wants <b>a sum</b>. Two and two make four; say it plainly."


@pytest.fixture(autouse=True)
def _patient_expect() -> Iterator[None]:
    """The first answer in a test process waits for LiteLLM to load (seconds on a busy machine)."""
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)


def test_thinking_streams_folded_then_says_how_long_and_opens_by_keyboard(
    page: Page, site: Site
) -> None:
    # Held after the reasoning's 8 pieces until the thought is opened: the answer has not begun
    # (0.25 s a piece before, about 2 s of each).
    held = site.upstream.behave("fake", text="Four.", reasoning=THOUGHT, chunks=8, hold_after=8)
    log_in(page)
    ask(page, "What is two and two?")
    thought = last_answer(page).locator("details.msg-thinking")
    summary = thought.locator("summary")
    expect(summary).to_have_text("Thinking…")
    expect(thought.locator(".thinking-text")).to_contain_text("The user wants")
    expect(thought).not_to_have_attribute("open", "")
    assert not last_answer(page).locator(".msg-body").inner_text().strip(), "no answer yet"
    summary.focus()  # opened while it streams, it stays open when the answer is done
    page.keyboard.press("Enter")
    expect(thought).to_have_attribute("open", "")
    screenshot(page, "chat-reasoning-thinking")
    held.release()
    expect(last_answer(page)).to_contain_text(re.compile(r"\d+ out tokens"))  # saved, re-shown
    expect(summary).to_have_text(re.compile(r"^Thought for \d+ s$"))
    expect(thought).to_have_attribute("open", "")
    expect(thought.locator(".thinking-text")).to_have_text(THOUGHT)
    expect(last_answer(page).locator(".msg-body")).to_contain_text("Four.")
    assert thought.locator("b").count() == 0, "reasoning is shown as text, never as markup"
    screenshot(page, "chat-reasoning")
    accessible(page, "an answer with its reasoning open")
    page.reload()  # a saved answer shows its reasoning folded
    expect(summary).to_have_text(re.compile(r"^Thought for \d+ s$"))
    expect(thought).not_to_have_attribute("open", "")
