"""Calls the chat route tests share: send a message, list a chat's messages, what the model got."""

from __future__ import annotations

from typing import Any

from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness


async def say(harness: AppHarness, chat_id: str, text: str) -> dict[str, Any]:
    """The admin sends `text` in the chat (no stream): the answer's JSON."""
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": text}, headers=harness.admin.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def listing(harness: AppHarness, chat_id: str, **params: str) -> list[dict[str, Any]]:
    """The chat's messages as the admin lists them."""
    response = await harness.client.get(
        f"/api/chats/{chat_id}/messages", params=params, headers=harness.admin.headers
    )
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["_embedded"]["messages"]
    return messages


def sent_to_model(upstream: FakeUpstream) -> list[tuple[str, str]]:
    """(role, content) of each message the last request to the fake provider carried."""
    return [(m["role"], m["content"]) for m in upstream.recorder.requests[-1]["messages"]]
