"""A reasoning model's thinking in chat: streamed as `reasoning` events before the answer, saved
on the message, billed as the provider counts it (or counted with the text when it does not),
and never sent back to the model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from billing.models import LedgerEntry
from core import tokens
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, parse_sse

pytestmark = pytest.mark.anyio
TEXT = "Seven times six is forty-two."
THOUGHT = "Six sevens: seven, fourteen, twenty-one, ... forty-two. Say so plainly."


async def _send(harness: AppHarness, chat_id: str, content: str) -> list[tuple[str, str, Any]]:
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": content, "stream": True},
        headers=harness.admin.headers,
    )
    assert response.status_code == 200, response.text
    return parse_sse(response.text)


async def _answer(harness: AppHarness, chat_id: str) -> dict[str, Any]:
    listing = await harness.client.get(
        f"/api/chats/{chat_id}/messages", headers=harness.admin.headers
    )
    return dict(listing.json()["_embedded"]["messages"][-1])


async def test_reasoning_streams_first_is_saved_and_billed_as_completion_tokens(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT, reasoning=THOUGHT, chunks=4, prompt_tokens=100)
    chat_id = await harness.chat(harness.admin)
    events = await _send(harness, chat_id, "What is six times seven?")
    names = [e[1] for e in events]
    assert names[1] == "reasoning" and names.index("delta") > names.index("reasoning")
    assert "".join(e[2]["text"] for e in events if e[1] == "reasoning") == THOUGHT
    assert "".join(e[2]["text"] for e in events if e[1] == "delta") == TEXT
    usage = next(e[2] for e in events if e[1] == "usage")
    assert usage["completionTokens"] == 4 + 4, "the provider counts reasoning as output"
    async with harness.services.sessions() as session:
        entry = (await session.scalars(select(LedgerEntry))).one()
    assert (entry.completion_tokens, entry.estimated) == (8, False)
    answer = await _answer(harness, chat_id)
    assert answer["content"] == TEXT and answer["reasoning"] == THOUGHT
    assert isinstance(answer["reasoningMs"], int) and answer["reasoningMs"] >= 0

    await _send(harness, chat_id, "And seven times seven?")
    sent_back = json.dumps(upstream.recorder.requests[-1]["messages"])
    assert TEXT in sent_back and "Six sevens" not in sent_back and "reasoning" not in sent_back


async def test_reasoning_without_provider_usage_is_counted_with_the_text(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT, reasoning=THOUGHT, chunks=4, usage=False)
    chat_id = await harness.chat(harness.admin)
    await _send(harness, chat_id, "What is six times seven?")
    answer = await _answer(harness, chat_id)
    if harness.services.gateway.fast_path:  # LiteLLM fills in usage itself on its path
        assert answer["usageEstimated"] is True
        assert answer["completionTokens"] == tokens.count_text(THOUGHT + TEXT, "fake")
    assert answer["completionTokens"] > tokens.count_text(TEXT, "fake")
