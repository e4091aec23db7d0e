"""Every flow works by keyboard alone: Tab, Shift+Tab, Enter, Space, Escape and the shortcuts."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.support import ADMIN, PASSWORD, eventually_blocking
from tests.web.chat_steps import last_answer
from tests.web.conftest import Site, screenshot

pytestmark = pytest.mark.browser
# Tab presses allowed to reach a control: a control further away than this is not reachable.
REACH = 60
_FOCUS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return 'nothing (the page body)';
  const name = el.getAttribute('aria-label') || el.textContent?.trim().slice(0, 40) || '';
  return `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${name}"`;
}"""
# What makes keyboard focus visible: an outline, or the box shadow some controls use instead.
_RING = """(el) => {
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  return outline || style.boxShadow !== 'none';
}"""


def focused(page: Page) -> str:
    """The element that has the keyboard focus, in words (for failure messages)."""
    return str(page.evaluate(_FOCUS))


def tab_to(page: Page, target: Locator, *, back: bool = False) -> None:
    """Press Tab (Shift+Tab with `back`) until `target` has the focus, and check it shows."""
    target.wait_for()
    key = "Shift+Tab" if back else "Tab"
    for _ in range(REACH):
        if target.evaluate("(el) => el === document.activeElement"):
            assert target.evaluate(_RING), f"{focused(page)} has the focus but shows no ring"
            return
        page.keyboard.press(key)
    raise AssertionError(f"{key} never reached {target}; the focus is on {focused(page)}")


def test_a_person_signs_in_chats_rates_and_administers_by_keyboard_alone(
    page: Page, site: Site
) -> None:
    bob = site.user("bob")
    team = site.admin.post("/api/teams", json={"name": "Crew", "description": ""}).json()["id"]
    site.admin.post(f"/api/teams/{team}/members", json={"userId": bob, "role": "member"})
    site.admin.put(f"/api/teams/{team}/ai-subscription", json={"seats": 3}).raise_for_status()

    # Sign in: the username box has the focus; Tab to the password, Enter sends.
    page.goto("/")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#/chat"))
    composer = page.get_by_label("Message", exact=True)
    expect(composer).to_be_focused()

    # Pick a model: back from the message box to the picker, an arrow key changes it.
    picker = page.get_by_label("Model")
    tab_to(page, picker, back=True)
    expect(picker).to_have_value("fake")
    page.keyboard.press("ArrowDown")  # fake-broken
    page.keyboard.press("ArrowDown")
    expect(picker).to_have_value("fake-backup")

    # Send a message with Enter and read the answer.
    tab_to(page, composer)
    page.keyboard.type("Hello by keyboard")
    page.keyboard.press("Enter")
    # The first answer in a test process waits for LiteLLM to load (seconds on a busy machine).
    expect(last_answer(page)).to_contain_text("The quick brown fox", timeout=30_000)
    expect(composer).to_be_focused()  # the focus comes back to the message box
    assert site.upstream.recorder.requests[0]["model"] == "fake-backup"

    # The shortcuts: "?" outside a text field opens the list, Escape closes it, and the focus
    # goes back where it was.
    shortcuts = page.get_by_role("button", name="Keyboard shortcuts")
    tab_to(page, shortcuts, back=True)
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(shortcuts).to_be_focused()
    page.keyboard.press("Enter")  # the button opens it too; its Close button is focused first
    expect(dialog).to_be_visible()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(shortcuts).to_be_focused()

    # Feedback: Bad answer with Space, a comment sent with Enter; the focus stays on the answer.
    bad = last_answer(page).get_by_role("button", name="Bad answer")
    tab_to(page, bad)
    page.keyboard.press("Space")
    expect(bad).to_have_attribute("aria-pressed", "true")
    comment = last_answer(page).get_by_label("What could be better? (optional)")
    expect(comment).to_be_focused()
    page.keyboard.type("Too short")
    page.keyboard.press("Enter")
    expect(comment).to_have_count(0)
    expect(bad).to_be_focused()
    chat_messages = f"/api/chats/{page.url.rsplit('/', 1)[-1]}/messages"

    def rated() -> bool:  # the form closes first, then the page sends the comment
        messages = site.admin.get(chat_messages).json()["_embedded"]["messages"]
        answer = [m for m in messages if m["role"] == "assistant"][-1]
        assert (answer["liked"], answer["feedback"]) == (False, "Too short")
        return True

    eventually_blocking(rated, seconds=10)

    # A new chat, from the sidebar's button.
    tab_to(page, page.get_by_role("button", name="New chat", exact=True), back=True)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="New chat")).to_be_visible()
    expect(composer).to_be_focused()
    expect(page.get_by_role("article", name="Answer")).to_have_count(0)

    # The theme: the top bar's picker, by arrow key.
    theme = page.get_by_label("Theme")
    tab_to(page, theme, back=True)
    page.keyboard.press("End")  # the last choice: Dark
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")

    # Admin: the users table, then the Seats section, where bob gets a seat.
    tab_to(page, page.get_by_role("link", name="Admin", exact=True))
    page.keyboard.press("Enter")
    users = page.get_by_role("table", name="Users")
    expect(users.get_by_role("row", name=re.compile("bob"))).to_contain_text("no seat")
    tab_to(page, page.get_by_role("link", name="Seats", exact=True))
    page.keyboard.press("Enter")
    crew = page.get_by_role("list", name="Members of Crew")
    tab_to(page, crew.get_by_role("button", name="Assign bob"))
    page.keyboard.press("Enter")
    expect(crew.get_by_role("button", name="Unassign bob")).to_be_focused()
    seats = site.admin.get(f"/api/teams/{team}/seats").json()["_embedded"]["seats"]
    assert [s["userId"] for s in seats] == [bob]
    screenshot(page, "keyboard-seats")
