"""GET /api/search: ranked hits over what the caller can see, escaped snippets, any text as q."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import delete, update

from assistant.models import Assistant, Message
from core.database import write_transaction
from knowledge.models import Job
from tests.knowledge.apps import upload, wait_settled
from tests.support import AppHarness, Caller, Harnesses

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def app(make_module_harness: Harnesses) -> AsyncIterator[AppHarness]:
    async with make_module_harness.running(embedding_backend="hash") as harness:
        yield harness


async def found(app: AppHarness, caller: Caller, q: str, **params: Any) -> list[dict[str, Any]]:
    response = await app.client.get(
        "/api/search", params={"q": q, **params}, headers=caller.headers
    )
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["_embedded"]["results"]
    return hits


async def add_messages(app: AppHarness, chat_id: str, *texts: str) -> list[str]:
    rows = [Message(chat_id=chat_id, role="user", content=text) for text in texts]
    async with write_transaction(app.services.sessions) as session:
        session.add_all(rows)
    return [row.id for row in rows]


async def test_search_ranks_the_better_match_first_and_links_each_kind(app: AppHarness) -> None:
    admin = app.admin
    chat = await app.chat(admin, title="Wombat migration notes")
    weak, strong = await add_messages(
        app,
        chat,
        "Long notes on many animals of the outback. " * 4 + "Somewhere among them a wombat.",
        "Wombat burrows: the wombat digs, the wombat sleeps.",
    )
    async with write_transaction(app.services.sessions) as session:
        session.add(Assistant(owner_id=admin.id, name="Wombat guide", description="Burrows"))
        session.add(Job(owner_user_id=admin.id, name="Nightly wombat count"))

    hits = await found(app, admin, "wombat", types="messages")
    assert [hit["id"] for hit in hits] == [strong, weak]
    assert hits[0]["score"] > hits[1]["score"]
    assert hits[0]["link"] == f"/api/chats/{chat}/messages/{strong}"
    assert hits[0]["chatId"] == chat and hits[0]["title"] == "Wombat migration notes"

    every = await found(app, admin, "wombat")
    assert {hit["type"] for hit in every} == {"chat", "message", "assistant", "job"}
    for hit in every:
        response = await app.client.get(hit["link"], headers=admin.headers)
        assert response.status_code == 200, (hit, response.text)
    narrowed = await found(app, admin, "wombat", types="chats,jobs")
    assert sorted(hit["type"] for hit in narrowed) == ["chat", "job"]
    # the last word is matched as the start of a word, the others whole
    assert {hit["id"] for hit in await found(app, admin, "burrows wom", types="messages")} == {
        strong
    }


async def test_a_strangers_chats_and_files_never_appear(app: AppHarness) -> None:
    stranger = await app.member("stranger")
    theirs = await app.chat(stranger, title="Zeppelin plans")
    await add_messages(app, theirs, "The zeppelin leaves at dawn.")
    files = await upload(
        app, stranger, {"zeppelin.md": b"# Zeppelin\n\nHydrogen zeppelin manifest."}
    )
    await wait_settled(app, stranger, [f["id"] for f in files])
    mine = await upload(app, app.admin, {"airships.md": b"# Airships\n\nA zeppelin is an airship."})
    await wait_settled(app, app.admin, [f["id"] for f in mine])
    async with write_transaction(app.services.sessions) as session:
        session.add(Job(owner_user_id=stranger.id, name="Zeppelin refuelling"))

    admins = await found(app, app.admin, "zeppelin")
    assert [(hit["type"], hit["id"]) for hit in admins] == [("file", mine[0]["id"])]
    assert "<mark>zeppelin</mark>" in admins[0]["snippet"]  # found by its text, not its name
    strangers = await found(app, stranger, "zeppelin")
    assert {hit["type"] for hit in strangers} == {"chat", "message", "file", "job"}
    assert files[0]["id"] in {hit["id"] for hit in strangers}


async def test_deleted_and_edited_messages_leave_the_results(app: AppHarness) -> None:
    admin = app.admin
    chat = await app.chat(admin, title="Quokka")
    edited, deleted = await add_messages(app, chat, "A quokka smiles.", "Another quokka.")
    async with write_transaction(app.services.sessions) as session:
        await session.execute(delete(Message).where(Message.id == deleted))
        await session.execute(
            update(Message).where(Message.id == edited).values(content="A numbat smiles.")
        )
    assert [hit["id"] for hit in await found(app, admin, "quokka", types="messages")] == []
    assert [hit["id"] for hit in await found(app, admin, "numbat")] == [edited]

    response = await app.client.delete(f"/api/chats/{chat}", headers=admin.headers)
    assert response.status_code == 204
    assert await found(app, admin, "numbat") == []


async def test_snippets_are_escaped_and_only_marks_are_markup(app: AppHarness) -> None:
    chat = await app.chat(app.admin, title="Markup")
    await add_messages(app, chat, "<script>alert('platypus')</script> <b>bold</b> & more")
    [hit] = await found(app, app.admin, "platypus")
    assert hit["snippet"] == (
        "&lt;script&gt;alert(&#x27;<mark>platypus</mark>&#x27;)&lt;/script&gt; "
        "&lt;b&gt;bold&lt;/b&gt; &amp; more"
    )
    assert hit["snippetText"] == "<script>alert('platypus')</script> <b>bold</b> & more"


@pytest.mark.parametrize(
    "q", ['"', "*", "a*", "NEAR(a b)", "title:x", "-x", "a OR b", "NOT", "'", "\\", "^(", "x:*"]
)
async def test_search_syntax_in_q_is_taken_as_words(app: AppHarness, q: str) -> None:
    response = await app.client.get("/api/search", params={"q": q}, headers=app.admin.headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": ""}, "invalid_search"),
        ({"q": "   "}, "invalid_search"),
        ({"q": "x" * 201}, "invalid_search"),
        ({"q": "x", "types": "chats,spaceships"}, "invalid_search_type"),
        ({"q": "x", "limit": 0}, "invalid_input"),
    ],
)
async def test_bad_search_input_is_a_422(
    app: AppHarness, params: dict[str, Any], code: str
) -> None:
    response = await app.client.get("/api/search", params=params, headers=app.admin.headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
