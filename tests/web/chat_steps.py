"""Steps the chat page tests share: asking through the composer and finding answers."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Locator, Page


def ask(page: Page, text: str) -> None:
    """Type a message in the composer and send it with Enter."""
    composer = page.get_by_label("Message", exact=True)
    composer.fill(text)
    composer.press("Enter")


def answers(page: Page) -> Locator:
    """The answers of the conversation, oldest first."""
    return page.get_by_role("article", name="Answer")


def last_answer(page: Page) -> Locator:
    """The newest answer."""
    return answers(page).last


def tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tool call as the fake upstream returns it."""
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def open_chat(page: Page, site_url: str, chat_id: str) -> None:
    """Go straight to a chat (after logging in) and wait until its composer is ready."""
    page.goto(f"{site_url}/#/chat/{chat_id}")
    page.get_by_label("Message", exact=True).wait_for()
