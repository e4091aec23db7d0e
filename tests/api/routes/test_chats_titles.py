"""Titles written by the model after a chat's first answer: in the background, and billed."""

from __future__ import annotations

import asyncio

import pytest

from assistant.chat.titles import MAX_TOKENS, clean
from tests.api.billing_builders import ledger_rows, open_reservations
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Harnesses

pytestmark = pytest.mark.anyio
QUESTION = "Could you plan a relaxed weekend in Paris for two people in spring?"


@pytest.fixture
async def titled(make_harness: Harnesses) -> AppHarness:
    """The app with auto titles on, as it runs by default."""
    return await make_harness(auto_titles=True)


async def titles_done(harness: AppHarness) -> None:
    """Wait (bounded) for the background title calls of the app."""
    pending = list(harness.services.chat.titles.tasks)
    if pending:
        _, late = await asyncio.wait(pending, timeout=15)
        assert not late, "a title call did not finish"


async def ask(harness: AppHarness, chat_id: str, text: str = QUESTION) -> int:
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": text}, headers=harness.admin.headers
    )
    return response.status_code


async def chat_title(harness: AppHarness, chat_id: str) -> str:
    response = await harness.client.get(f"/api/chats/{chat_id}", headers=harness.admin.headers)
    return str(response.json()["title"])


async def test_the_first_answer_brings_a_model_written_title_billed_as_its_own_call(
    titled: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text='"Paris Weekend For Two."', chunks=2)
    chat_id = await titled.chat(titled.admin)
    assert await ask(titled, chat_id) == 201
    await titles_done(titled)
    assert await chat_title(titled, chat_id) == "Paris Weekend For Two"

    title_call = upstream.recorder.requests[-1]
    assert title_call["max_tokens"] == MAX_TOKENS
    assert "title" in title_call["messages"][0]["content"].lower()
    assert QUESTION in title_call["messages"][1]["content"]
    rows = await ledger_rows(titled.services.sessions)
    assert [(r.source, r.outcome) for r in rows] == [("chat", "completed"), ("title", "completed")]
    assert rows[1].model == "fake" and rows[1].cost_micros > 0
    assert rows[1].user_id == titled.admin.id
    assert not await open_reservations(titled.services.sessions)

    assert await ask(titled, chat_id, "And in summer?") == 201
    await titles_done(titled)
    sources = [r.source for r in await ledger_rows(titled.services.sessions)]
    assert sources == ["chat", "title", "chat"], "only the first answer brings a title"


async def test_a_chat_named_by_its_user_keeps_that_name(
    titled: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="Model Title", chunks=1)
    named = await titled.chat(titled.admin, title="My own name")
    assert await ask(titled, named) == 201
    await titles_done(titled)
    assert await chat_title(titled, named) == "My own name"
    assert [r.source for r in await ledger_rows(titled.services.sessions)] == ["chat"]

    upstream.behave("fake", text="Model Title", chunks=1, first_delay=0.5)
    renamed = await titled.chat(titled.admin)
    assert await ask(titled, renamed) == 201
    assert titled.services.chat.titles.tasks, "the title call runs after the answer"
    response = await titled.client.patch(
        f"/api/chats/{renamed}", json={"title": "Renamed meanwhile"}, headers=titled.admin.headers
    )
    assert response.status_code == 200
    await titles_done(titled)
    assert await chat_title(titled, renamed) == "Renamed meanwhile"


async def test_a_failed_answer_brings_no_title_call(
    titled: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", fail_status=500)
    chat_id = await titled.chat(titled.admin)
    assert await ask(titled, chat_id) == 503
    await titles_done(titled)
    assert all(r.source != "title" for r in await ledger_rows(titled.services.sessions))
    assert await chat_title(titled, chat_id) == QUESTION[:59].rstrip() + "…"


async def test_turned_off_no_title_call_is_made(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    assert harness.services.settings.auto_titles is False
    upstream.behave("fake", text="An answer", chunks=1)
    chat_id = await harness.chat(harness.admin)
    assert await ask(harness, chat_id) == 201
    assert not harness.services.chat.titles.tasks
    assert upstream.recorder.count("fake") == 1
    assert await chat_title(harness, chat_id) == QUESTION[:59].rstrip() + "…"


def test_a_model_title_is_cleaned_to_one_short_line() -> None:
    assert clean('Title: "Budget Review."\nExtra line') == "Budget Review"
    assert clean("  **Rust ownership**  ") == "Rust ownership"
    assert clean("   ") == ""
    assert len(clean("word " * 40)) <= 60
