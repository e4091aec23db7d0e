"""GET /api/search for a word in many messages: which matches are ranked, in what order, and (on
PostgreSQL) that the rows read are bounded by how many are ranked, not by how many match."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text

from assistant import search_everywhere
from assistant.models import Chat, Message
from core import fulltext
from core.clock import now
from core.database import write_transaction
from core.ids import new_id
from core.models import User
from tests.support import AppHarness, Caller, Harnesses

pytestmark = pytest.mark.anyio

CHATS = 40
PER_CHAT = 10
HOLDING = 4  # of a chat's messages, the first 4 hold the word (in under half: bm25 ranks them)
WORD = "wallaby"


@dataclass(frozen=True)
class Seeded:
    """The admin's chats, oldest first, each with the ids of its messages holding the word, oldest
    first; a rival and theirs."""

    chats: list[str]
    messages: list[list[str]]
    rival: Caller
    rivals: list[str]


@pytest.fixture(scope="module")
async def app(make_module_harness: Harnesses) -> AsyncIterator[AppHarness]:
    async with make_module_harness.running() as harness:
        yield harness


@pytest.fixture(scope="module")
async def seeded(app: AppHarness) -> Seeded:
    """40 chats of the admin's, 10 messages each, 4 of them holding the word: the oldest chat's
    first three messages are the word alone (the best matches, equal), the rest are longer and
    of varied lengths. Then a rival's chat, the most recent of all, its messages the word
    alone."""
    rival = await app.member("rival")
    start = now() - timedelta(days=30)
    chats = [new_id() for _ in range(CHATS)]
    theirs = new_id()
    messages: list[list[str]] = []
    rows: list[dict[str, Any]] = []
    for n, chat in enumerate([*chats, theirs]):
        ids = []
        for i in range(PER_CHAT):
            if chat == theirs or (n == 0 and i < 3):
                content = WORD
            elif i < HOLDING:
                content = f"Notes {n} {i}: " + "the marsupials of the bush " * (1 + i) + WORD
            else:
                content = f"Notes {n} {i}: the marsupials of the bush"
            stamp = start + timedelta(hours=n, minutes=i)
            ids.append(new_id())
            rows.append(
                {"id": ids[-1], "chat_id": chat, "role": "user", "content": content}
                | {"created_at": stamp, "updated_at": stamp}
            )
        messages.append(ids if chat == theirs else ids[:HOLDING])
    owned = [*((chat, app.admin.id) for chat in chats), (theirs, rival.id)]
    async with write_transaction(app.services.sessions) as session:
        await session.execute(
            insert(Chat),
            [
                {"id": chat, "user_id": user, "title": f"Chat {n}"}
                | {"created_at": start, "updated_at": start + timedelta(hours=n, minutes=PER_CHAT)}
                for n, (chat, user) in enumerate(owned)
            ],
        )
        await session.execute(insert(Message), rows)
    return Seeded(chats=chats, messages=messages[:-1], rival=rival, rivals=messages[-1])


async def found(app: AppHarness, caller: Caller) -> list[dict[str, Any]]:
    response = await app.client.get(
        "/api/search",
        params={"q": WORD, "types": "messages", "limit": 100},
        headers=caller.headers,
    )
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["_embedded"]["results"]
    return hits


def in_order(hits: list[dict[str, Any]]) -> bool:
    """Best first; equal scores by id, the higher (newer) first."""
    keys = [(-hit["score"], [-ord(c) for c in hit["id"]]) for hit in hits]
    return keys == sorted(keys)


async def test_under_the_bound_every_match_is_ranked_in_a_fixed_order(
    app: AppHarness, seeded: Seeded
) -> None:
    hits = await found(app, app.admin)
    assert len(hits) == 100  # of 160
    # the oldest chat's messages that are the word alone rank first: every match was ranked
    assert [hit["id"] for hit in hits[:3]] == sorted(seeded.messages[0][:3], reverse=True)
    assert in_order(hits)
    assert await found(app, app.admin) == hits  # the same search, the same list
    mine = {message for chat in seeded.messages for message in chat}
    assert {hit["id"] for hit in hits} <= mine  # never the rival's
    assert sorted(hit["id"] for hit in await found(app, seeded.rival)) == sorted(seeded.rivals)


async def test_over_the_bound_the_newest_matches_are_ranked(
    app: AppHarness, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(fulltext.CANDIDATES, "sqlite", 2 * HOLDING)
    monkeypatch.setitem(fulltext.CANDIDATES, "postgresql", 2 * HOLDING)
    hits = await found(app, app.admin)
    # the two most recently active chats' messages (the rival's more recent one takes no place)
    assert sorted(hit["id"] for hit in hits) == sorted(seeded.messages[-1] + seeded.messages[-2])
    assert in_order(hits)


# Planner settings that leave PostgreSQL one way to find the candidates: walking the chat list's
# order index chat by chat (sorts other than incremental ones cost too much), or reading every
# match through the full-text index (no index walks).
WALK = ("seqscan", "bitmapscan", "hashjoin", "mergejoin", "material", "sort")
READ = ("seqscan", "indexscan")


async def test_postgresql_walks_as_many_messages_as_it_ranks_and_either_plan_agrees(
    app: AppHarness, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which plan PostgreSQL picks depends on the tables' sizes (at the bench's 200,000 messages
    it walks for a word in most messages by itself, bench/README.md; these tables are small
    enough to read whole): both must give the same hits, the walk reading about as many
    messages as are ranked rather than all 170 that match."""
    monkeypatch.setitem(fulltext.CANDIDATES, "postgresql", 2 * HOLDING)
    async with app.services.sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite's FTS5 walks its own rowids newest first")
        await session.execute(text("ANALYZE assistant_message, assistant_chat"))
        await session.commit()
        admin = await session.get_one(User, app.admin.id)
    searcher = search_everywhere.Searcher(user=admin, team_ids=())
    terms = fulltext.words(WORD)
    assert terms is not None
    stmt = search_everywhere.statement("message", searcher, "postgresql", terms, 20)
    walked, walk_hits = await _explained(app, stmt, WALK)
    read, read_hits = await _explained(app, stmt, READ)
    assert walk_hits == read_hits
    assert sorted(walk_hits) == sorted(seeded.messages[-1] + seeded.messages[-2])
    # the two newest chats' 20 messages, at most a row of the next chat's, not the 170 matches
    assert 0 < walked <= 3 * PER_CHAT < read


async def _explained(app: AppHarness, stmt: Any, off: tuple[str, ...]) -> tuple[int, list[str]]:
    """The messages the statement's plan reads (rows kept or filtered, every loop) with the
    given plans off, and the ids it finds."""
    async with app.services.sessions() as session:
        await session.execute(text("SET LOCAL jit = off"))  # no compiling for the plans off
        for plan in off:
            await session.execute(text(f"SET LOCAL enable_{plan} = off"))
        sql = stmt.compile(
            dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
        )
        raw = (await session.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"))).scalar_one()
        ids = [row[0] for row in await session.execute(stmt)]
    plan = json.loads(raw) if isinstance(raw, str) else raw
    nodes = [node for node in _nodes(plan[0]["Plan"]) if _reads_messages(node)]
    read = sum(
        (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
        for node in nodes
        if node.get("Index Name") != "pk_assistant_message"  # the best, joined back
    )
    return int(read), ids


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(child for sub in node.get("Plans", []) for child in _nodes(sub))]


def _reads_messages(node: dict[str, Any]) -> bool:
    return node.get("Relation Name") == "assistant_message" or (
        "Index Name" in node and "assistant_message" in node["Index Name"]
    )
