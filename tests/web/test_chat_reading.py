"""Reading an answer in the page: highlighted code, aligned tables, a thread that scrolls on its
own above the composer, the theme switch, keyboard shortcuts and the empty chat's advice."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.chat_steps import ask, last_answer
from tests.web.conftest import Site, accessible, log_in, screenshot

pytestmark = pytest.mark.browser

ANSWER = (
    "## Prices\n\n"
    + "".join(f"Line {n} of the explanation.\n\n" for n in range(1, 31))
    + "```python\ndef total(prices):\n    return sum(prices)  # "
    + "x" * 300
    + "\n```\n\n| item | price |\n|:---|---:|\n| tea | 3.50 |\n| cake | 12.00 |\n\nThe last line."
)


def test_a_long_answer_reads_with_highlighted_code_aligned_tables_and_its_end_in_view(
    page: Page, site: Site
) -> None:
    site.upstream.behave("fake", text=ANSWER, chunks=20, delay=0.05)
    log_in(page)
    expect(page.get_by_role("heading", name="Start a chat")).to_be_visible()
    accessible(page, "an empty chat")
    ask(page, "Explain the prices")
    answer = last_answer(page)
    expect(answer).to_contain_text(re.compile(r"\d+ out tokens"), timeout=30_000)
    block = answer.locator(".code-block")
    expect(block.locator(".code-lang")).to_have_text("python")
    expect(block.locator("span.k").first).to_have_text("def")
    expect(block.locator("span.c1")).to_contain_text("# xxx")
    expect(answer.locator("td.align-right").first).to_have_text("3.50")
    assert (
        answer.locator("td.align-right").first.evaluate("td => getComputedStyle(td).textAlign")
        == "right"
    )
    # Long code scrolls inside its block, not the page.
    assert block.locator("pre").evaluate("pre => pre.scrollWidth > pre.clientWidth")
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    # The page itself never scrolls: the top bar stays, the thread followed the answer to its
    # end, so the last line, the figures and the actions sit above the message box.
    assert page.evaluate("() => scrollY") == 0
    expect(page.get_by_role("link", name="Switchboard")).to_be_in_viewport()
    composer_top = page.get_by_label("Message", exact=True).bounding_box()
    regenerate = answer.get_by_role("button", name="Regenerate").bounding_box()
    last_line = answer.get_by_text("The last line.").bounding_box()
    assert composer_top and regenerate and last_line
    assert regenerate["y"] + regenerate["height"] <= composer_top["y"]
    assert last_line["y"] >= 0
    expect(answer.get_by_text("The last line.")).to_be_in_viewport()
    screenshot(page, "chat-code-and-table")
    accessible(page, "a chat with an answer")

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    block.get_by_role("button", name="Copy python").click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("def total(prices):") and "<span" not in copied


def test_theme_switch_and_keyboard_shortcuts(page: Page, site: Site) -> None:
    site.upstream.behave("fake", text="Slow " * 40, chunks=40, delay=0.25)
    log_in(page)
    theme = page.get_by_label("Theme")
    theme.select_option("dark")
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(23, 23, 26)", background
    page.reload()
    expect(page.get_by_label("Theme")).to_have_value("dark")  # remembered
    screenshot(page, "chat-dark-theme")
    accessible(page, "the chat page in the dark theme")
    page.get_by_label("Theme").select_option("system")
    assert page.evaluate("() => document.documentElement.dataset.theme") is None

    page.get_by_role("link", name="Switchboard").focus()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_contain_text("New chat")
    screenshot(page, "shortcuts-dialog")
    accessible(page, "the shortcuts dialog")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    ask(page, "Talk slowly")
    expect(last_answer(page).locator(".msg-body")).to_contain_text("Slow", timeout=30_000)
    page.keyboard.press("Escape")  # stops the answer
    expect(last_answer(page)).to_contain_text("Stopped")
    page.get_by_role("link", name="Switchboard").focus()
    page.keyboard.press("Shift+Escape")
    expect(page.get_by_label("Message", exact=True)).to_be_focused()
    page.keyboard.press("Control+Shift+O")
    expect(page).to_have_url(re.compile(r"#/chat$"))
    expect(page.get_by_role("heading", name="Start a chat")).to_be_visible()


def test_the_chat_list_is_grouped_by_date(page: Page, site: Site) -> None:
    for title, pinned in (("Kept on top", True), ("Fresh one", False)):
        chat = site.admin.post("/api/chats", json={"model": "fake"}).json()
        site.admin.patch(f"/api/chats/{chat['id']}", json={"title": title, "pinned": pinned})
    log_in(page)
    chats = page.get_by_role("list", name="Chats")
    expect(chats.get_by_role("heading")).to_have_text(["Pinned", "Today"])
    expect(chats.get_by_role("link")).to_have_text([re.compile("Kept on top"), "Fresh one"])
    screenshot(page, "chat-list-by-date")
    groups = page.evaluate(
        """async () => {
          const { dateGroup } = await import('/static/js/chat/dates.js');
          const now = new Date(2026, 11, 5, 9, 0);
          return [[2026, 11, 5, 0, 1], [2026, 11, 4, 23, 0], [2026, 10, 29, 12, 0],
                  [2026, 10, 10, 12, 0], [2026, 9, 31, 12, 0]]
            .map(([y, m, d, hh, mm]) => new Date(y, m, d, hh, mm).toISOString())
            .map((updatedAt) => dateGroup({ updatedAt }, now));
        }"""
    )
    assert groups[:4] == ["Today", "Yesterday", "Previous 7 days", "Previous 30 days"]
    assert groups[4] == "October 2026", groups
