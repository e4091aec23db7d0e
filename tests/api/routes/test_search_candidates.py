"""GET /api/search for a word in many messages: which matches are ranked, in what order, and (on
PostgreSQL) that either way of finding them (a walk of the chat list testing each chat's kept
word starts, or a read of the matches) gives the same hits, the walk reading only the messages
of chats that hold the word."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, text

from assistant import message_candidates, search_everywhere
from assistant.chat.search import drain
from assistant.models import Chat, Message
from core import fulltext
from core.clock import now
from core.database import write_transaction
from core.ids import new_id
from core.models import User
from tests.support import AppHarness, Caller, Harnesses

pytestmark = pytest.mark.anyio

CHATS = 40
QUIET = 5  # the admin's most recently active chats, none holding the word
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
    quiet: list[str]


@pytest.fixture(scope="module")
async def app(make_module_harness: Harnesses) -> AsyncIterator[AppHarness]:
    async with make_module_harness.running() as harness:
        yield harness


@pytest.fixture(scope="module")
async def seeded(app: AppHarness) -> Seeded:
    """40 chats of the admin's, 10 messages each, 4 of them holding the word: the oldest chat's
    first three messages are the word alone (the best matches, equal), the rest are longer and
    of varied lengths. Then a rival's chat, more recent, its messages the word alone; then the
    admin's 5 most recent chats, without the word."""
    rival = await app.member("rival")
    start = now() - timedelta(days=30)
    chats = [new_id() for _ in range(CHATS)]
    theirs = new_id()
    quiet = [new_id() for _ in range(QUIET)]
    messages: list[list[str]] = []
    rows: list[dict[str, Any]] = []
    for n, chat in enumerate([*chats, theirs, *quiet]):
        ids = []
        for i in range(PER_CHAT):
            if chat in quiet:
                content = f"Notes {n} {i}: the marsupials of the bush"
            elif chat == theirs or (n == 0 and i < 3):
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
    mine = [*chats, theirs, *quiet]
    owned = [(chat, rival.id if chat == theirs else app.admin.id) for chat in mine]
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
    return Seeded(
        chats=chats, messages=messages[:CHATS], rival=rival, rivals=messages[CHATS], quiet=quiet
    )


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


async def test_postgresql_walk_and_read_agree_the_walk_reads_only_chats_holding_the_word(
    app: AppHarness, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk tests each chat's kept word starts and reads the messages of those that hold the
    word (the 5 quiet chats, the most recent, are tested and not read) or whose starts are
    still pending; the read finds the matches through the message index. Same hits, and the
    same as `search` gives by either plan or when a walk stops short (then it reads)."""
    monkeypatch.setitem(fulltext.CANDIDATES, "postgresql", 2 * HOLDING)
    async with app.services.sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite's FTS5 walks its own rowids newest first")
    await drain(app.services.engine, user_id=None)  # the seeded messages' starts merged
    async with app.services.sessions() as session:
        await session.execute(text("ANALYZE assistant_message, assistant_chat"))
        await session.commit()
        admin = await session.get_one(User, app.admin.id)
    searcher = search_everywhere.Searcher(user=admin, team_ids=())
    terms = fulltext.words(WORD)
    assert terms is not None
    whole = message_candidates.Walk(tests=1000, chats=1000)
    walked, walk_hits = await _explained(app, _statement(searcher, terms, whole))
    read, read_hits = await _explained(app, _statement(searcher, terms, None))
    newest = sorted(seeded.messages[-1] + seeded.messages[-2])
    assert sorted(walk_hits) == sorted(read_hits) == newest
    # the two newest holding chats' messages and the next one's (where the walk stops), not
    # the quiet chats' 50 nor the 170 matches
    assert 0 < walked <= 3 * PER_CHAT < read
    async with app.services.sessions() as session:  # the counts choose the walk for the word
        assert await message_candidates.walk(session, admin.id, terms, 2 * HOLDING) is not None
        rare = fulltext.words("39")  # one chat's messages
        assert rare is not None
        assert await message_candidates.walk(session, admin.id, rare, 2 * HOLDING) is None

    # a quiet chat's message saved now: its starts are pending, and the walk reads it
    pending = new_id()
    async with write_transaction(app.services.sessions) as session:
        await session.execute(
            insert(Message).values(
                id=pending, chat_id=seeded.quiet[-1], role="user", content=f"{WORD} again"
            )
        )
    _, walk_hits = await _explained(app, _statement(searcher, terms, whole))
    assert pending in walk_hits
    hits = []
    for plan in (whole, message_candidates.Walk(tests=1, chats=1000), None):  # 1: stops short
        monkeypatch.setattr(message_candidates, "walk", _planned(plan))
        hits.append(await found(app, app.admin))
    assert hits[0] == hits[1] == hits[2]
    assert pending in {hit["id"] for hit in hits[0]}
    async with write_transaction(app.services.sessions) as session:
        await session.execute(delete(Message).where(Message.id == pending))


def _statement(
    searcher: search_everywhere.Searcher,
    terms: fulltext.Terms,
    walk: message_candidates.Walk | None,
) -> Any:
    return search_everywhere.statement("message", searcher, "postgresql", terms, 20, walk=walk)


def _planned(plan: message_candidates.Walk | None) -> Any:
    async def walk(*_: Any) -> message_candidates.Walk | None:
        return plan

    return walk


async def _explained(app: AppHarness, stmt: Any) -> tuple[int, list[str]]:
    """The messages the plan of the statement's candidates reads (rows kept or filtered, every
    loop; the whole plan's when they are not a CTE of their own), and the ids it finds."""
    async with app.services.sessions() as session:
        await session.execute(text("SET LOCAL jit = off"))
        sql = stmt.compile(
            dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
        )
        raw = (await session.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"))).scalar_one()
        ids = [row[0] for row in await session.execute(stmt)]
    plan = json.loads(raw) if isinstance(raw, str) else raw
    found = [n for n in _nodes(plan[0]["Plan"]) if n.get("Subplan Name") == "CTE candidates"]
    read = sum(
        (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
        for node in _nodes(found[0] if found else plan[0]["Plan"])
        if node.get("Relation Name") == "assistant_message"
    )
    return int(read), ids


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(child for sub in node.get("Plans", []) for child in _nodes(sub))]
