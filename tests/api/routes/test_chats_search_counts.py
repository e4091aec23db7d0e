"""The chat list's one-word search on PostgreSQL: kept counts and the walk of the list.

Migration assistant_0023 keeps each chat's word starts and, per user, how many chats hold each;
the list takes its total from there and, for dense matches, walks its order testing chat by
chat. A message's starts wait in a pending table until drained (assistant_0026: in the
background, and by the list before it reads). These check that the counts equal what the chats
hold after concurrent writes of every kind and drains, and that pages and totals are those of
the search through the chat words. On SQLite (no such tables) they are skipped.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.chat.search import ChatFilter, chats_query, drain, listing
from assistant.models import Chat, Message
from core.listing import PageRequest
from tests.api.billing_builders import seated_member
from tests.support import AppHarness, eventually

pytestmark = pytest.mark.anyio

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta"]
# Words sharing starts (ka, kalo, kalomi...), enough that most writes bring a chat new ones.
WORDS = [a + b + c for a in SYLLABLES for b in SYLLABLES for c in ("", "vo", "zo")]

# Per (user, archived, start of at most 32 characters) the chats holding it, from the chats'
# titles and messages as they are; '' for every chat.
TRUTH = """
WITH lexemes AS (
    SELECT c.id, c.user_id, c.archived, l.word
    FROM assistant_chat c CROSS JOIN LATERAL unnest(tsvector_to_array(c.search_vector)) l(word)
    UNION
    SELECT c.id, c.user_id, c.archived, l.word
    FROM assistant_chat c JOIN assistant_message m ON m.chat_id = c.id
    CROSS JOIN LATERAL unnest(tsvector_to_array(m.search_vector)) l(word)
)
SELECT user_id, archived, prefix, count(DISTINCT id) FROM (
    SELECT id, user_id, archived, left(word, n) AS prefix
    FROM lexemes CROSS JOIN LATERAL generate_series(1, least(length(word), 32)) n
    UNION ALL SELECT id, user_id, archived, '' FROM assistant_chat
) s GROUP BY user_id, archived, prefix
"""
KEPT = "SELECT user_id, archived, prefix, chats FROM assistant_chat_prefix_counts WHERE chats <> 0"


async def _postgres_sessions(harness: AppHarness) -> async_sessionmaker[AsyncSession]:
    """The harness's sessions; the test is skipped unless they reach PostgreSQL."""
    async with harness.services.sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("PostgreSQL keeps the counts (SQLite searches its own index)")
    return harness.services.sessions


def said(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(1, 4)))


async def test_counts_stay_exact_under_concurrent_writes_renames_archives_and_deletes(
    harness: AppHarness,
) -> None:
    sessions = await _postgres_sessions(harness)
    member = await seated_member(harness, "member-counts")
    owners = [harness.admin.id, member.id]
    rng = random.Random(20)
    chats = [await harness.chat(harness.admin, title=said(rng)) for _ in range(4)]
    chats.append(await harness.chat(member, title=said(rng)))
    messages: list[str] = []

    async def write(step: int) -> None:
        op_rng = random.Random(step)
        chat = op_rng.choice(chats)
        async with sessions() as session:
            kind = op_rng.choice(["insert", "insert", "append", "edit", "delete", "chat"])
            if kind == "insert" or not messages:
                message = Message(chat_id=chat, role="user", content=said(op_rng))
                session.add(message)
                await session.flush()
                messages.append(message.id)
            elif kind == "append":
                appended = Message.content + " " + said(op_rng)
                target = op_rng.choice(messages)
                await session.execute(
                    update(Message).where(Message.id == target).values(content=appended)
                )
            elif kind == "edit":
                target = op_rng.choice(messages)
                await session.execute(
                    update(Message).where(Message.id == target).values(content=said(op_rng))
                )
            elif kind == "delete":
                await session.execute(delete(Message).where(Message.id == op_rng.choice(messages)))
            else:
                changes: dict[str, Any] = op_rng.choice(
                    [{"title": said(op_rng)}, {"archived": op_rng.random() < 0.5}]
                )
                await session.execute(update(Chat).where(Chat.id == chat).values(**changes))
            await session.commit()

    engine = harness.services.engine
    for round_ in range(12):  # drains of one user's chats, or everyone's, among the writes
        drains = [drain(engine, user_id=owners[round_ % 2]), drain(engine, user_id=None, most=2)]
        await asyncio.gather(*(write(round_ * 10 + n) for n in range(6)), *drains)
        if round_ == 8:  # a chat deleted while others are written
            doomed = chats.pop(0)
            async with sessions() as session:
                await asyncio.gather(
                    session.execute(delete(Chat).where(Chat.id == doomed)),
                    write(1000),
                )
                await session.commit()

    await drain(engine, user_id=None)
    async with sessions() as session:
        truth = {tuple(row[:3]): row[3] for row in await session.execute(text(TRUTH))}
        kept = {tuple(row[:3]): row[3] for row in await session.execute(text(KEPT))}
    assert kept == truth
    assert {key[0] for key in truth} == set(owners)


async def test_walked_pages_and_kept_totals_are_those_of_the_search_through_the_words(
    harness: AppHarness,
) -> None:
    sessions = await _postgres_sessions(harness)
    rng = random.Random(21)
    chats = [await harness.chat(harness.admin, title=said(rng)) for _ in range(12)]
    async with sessions() as session:
        for chat in chats:
            session.add(Message(chat_id=chat, role="user", content=said(rng)))
        await session.commit()
    await harness.client.patch(
        f"/api/chats/{chats[3]}", json={"pinned": True}, headers=harness.admin.headers
    )
    await harness.client.patch(
        f"/api/chats/{chats[5]}", json={"archived": True}, headers=harness.admin.headers
    )

    async def listed(**params: Any) -> tuple[int, list[str]]:
        response = await harness.client.get(
            "/api/chats", params=params, headers=harness.admin.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return body["total"], [c["id"] for c in body["_embedded"]["chats"]]

    async def searched(q: str, archived: bool | None) -> list[str]:
        query = chats_query(harness.admin.id, ChatFilter(archived=archived), q, "postgresql")
        async with sessions() as session:
            rows = await session.scalars(query.order_by(Chat.updated_at.desc()))
            return [chat.id for chat in rows]

    for q in ["ka", "kalo", "kalomi", "ne", "zoka", "z", "nothing"]:
        for archived in (False, True):
            every = await searched(q, archived)
            for start, limit in ((0, 1), (1, 2), (0, 50), (3, 3), (len(every), 5)):
                params = {"q": q, "start": start, "limit": limit, "archived": archived}
                assert await listed(**params) == (len(every), every[start : start + limit]), params
    async with sessions() as session:  # a dense word with a short page walks the list
        page = PageRequest(limit=1, q="ka")
        walked = await listing(session, user_id=harness.admin.id, filters=ChatFilter(), page=page)
    assert "assistant_chat_holds" in str(walked.query)


# The parts of a chat's starts: each at most 256 starts, all within its range (from its `lo` to
# the next part's), none shared.
PARTS = """
SELECT p.chat_id, p.lo, length(p.prefixes) <= 256, coalesce(bool_and(
    s.start COLLATE "C" >= p.lo AND (n.lo IS NULL OR s.start COLLATE "C" < n.lo)), true)
FROM assistant_chat_prefixes p
LEFT JOIN LATERAL (SELECT min(q.lo) AS lo FROM assistant_chat_prefixes q
                   WHERE q.chat_id = p.chat_id AND q.lo > p.lo) n ON true
LEFT JOIN LATERAL unnest(tsvector_to_array(p.prefixes)) s(start) ON true
GROUP BY p.chat_id, p.lo, p.prefixes, n.lo
"""


async def test_long_words_are_saved_counted_to_32_characters_and_found_whole(
    harness: AppHarness,
) -> None:
    sessions = await _postgres_sessions(harness)
    member = await seated_member(harness, "member-long-words")
    chat = await harness.chat(member, title="pasted")
    # Every start of these would be 3.4 MB, past a tsvector's 1 MB: the save failed.
    blob = " ".join(letter * 1500 for letter in "abc")
    async with sessions() as session:
        session.add(Message(chat_id=chat, role="user", content=blob))
        await session.commit()
    for q in ("a" * 10, "b" * 32, "c" * 40, "a" * 200):
        response = await harness.client.get("/api/chats", params={"q": q}, headers=member.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["total"], [c["id"] for c in body["_embedded"]["chats"]]) == (1, [chat]), q
    # Enough starts to split the chat's parts, by one message and by appends to it.
    many = [word + tail for word in WORDS for tail in ("", "ber", "shi")]
    async with sessions() as session:
        message = Message(chat_id=chat, role="user", content=" ".join(many[::2]))
        session.add(message)
        await session.commit()
    for first in range(1, len(many), 60):
        async with sessions() as session:
            appended = Message.content + " " + " ".join(many[first : first + 60 : 2])
            await session.execute(
                update(Message).where(Message.id == message.id).values(content=appended)
            )
            await session.commit()
    await drain(harness.services.engine, user_id=member.id)
    async with sessions() as session:
        truth = {tuple(row[:3]): row[3] for row in await session.execute(text(TRUTH))}
        kept = {tuple(row[:3]): row[3] for row in await session.execute(text(KEPT))}
        parts = (await session.execute(text(PARTS))).all()
    assert {k: v for k, v in kept.items() if k[0] == member.id} == {
        k: v for k, v in truth.items() if k[0] == member.id
    }
    assert len([part for part in parts if part[0] == chat]) > 2
    assert all(bounded and within for _, _, bounded, within in parts)
    for q in ("kalo", "zo", many[-2][:5], "x"):
        every = await searched(harness, member.id, q)
        response = await harness.client.get(
            "/api/chats", params={"q": q, "limit": 1}, headers=member.headers
        )
        body = response.json()
        assert body["total"] == len(every), q
        assert [c["id"] for c in body["_embedded"]["chats"]] == every[:1], q


async def searched(harness: AppHarness, user_id: str, q: str) -> list[str]:
    """The user's unarchived chats matching `q` through the chat words, newest first."""
    query = chats_query(user_id, ChatFilter(archived=False), q, "postgresql")
    async with harness.services.sessions() as session:
        rows = await session.scalars(query.order_by(Chat.updated_at.desc()))
        return [chat.id for chat in rows]


async def test_the_list_counts_what_is_pending_and_a_rolled_back_write_leaves_nothing(
    harness: AppHarness,
) -> None:
    sessions = await _postgres_sessions(harness)
    member = await seated_member(harness, "member-pending")
    chats = [await harness.chat(member, title="plain") for _ in range(3)]
    async with sessions() as session:
        answer = Message(chat_id=chats[0], role="assistant", content="kalo mi")
        session.add(answer)
        session.add(Message(chat_id=chats[1], role="user", content="ruta"))
        await session.commit()
    # An answer's checkpoints: words grown at the join ("mine", "rutavo"), and none gained.
    for more in ("ne", " kalo", " ruta", "vo", " mi kalo"):
        async with sessions() as session:
            appended = Message.content + more
            await session.execute(
                update(Message).where(Message.id == answer.id).values(content=appended)
            )
            await session.commit()
    async with sessions() as session:  # rolled back: nothing of it pending
        session.add(Message(chat_id=chats[2], role="user", content="zozoka"))
        await session.flush()
        await session.rollback()

    for q, expected in (("min", 1), ("rutav", 1), ("rut", 2), ("zozo", 0), ("pla", 3)):
        response = await harness.client.get("/api/chats", params={"q": q}, headers=member.headers)
        assert response.status_code == 200, response.text
        every = await searched(harness, member.id, q)
        assert response.json()["total"] == len(every) == expected, q
    async with sessions() as session:
        truth = {tuple(row[:3]): row[3] for row in await session.execute(text(TRUTH))}
        kept = {tuple(row[:3]): row[3] for row in await session.execute(text(KEPT))}
        left = await session.scalar(
            text(
                "SELECT count(*) FROM assistant_chat_prefix_pending p "
                "JOIN assistant_chat c ON c.id = p.chat_id WHERE c.user_id = :user"
            ),
            {"user": member.id},
        )
    assert left == 0
    assert {k: v for k, v in kept.items() if k[0] == member.id} == {
        k: v for k, v in truth.items() if k[0] == member.id
    }


async def test_the_background_drain_merges_what_is_pending_without_a_search(
    harness: AppHarness,
) -> None:
    sessions = await _postgres_sessions(harness)
    member = await seated_member(harness, "member-background")
    chat = await harness.chat(member, title="plain")
    async with sessions() as session:
        session.add(Message(chat_id=chat, role="user", content="taruvo mizoka"))
        await session.commit()

    async def merged() -> set[str]:  # the app's drain_forever, every DRAIN_SECONDS
        async with sessions() as session:
            counts = await session.execute(
                text(
                    "SELECT prefix FROM assistant_chat_prefix_counts "
                    "WHERE user_id = :user AND chats = 1 AND prefix IN ('taruvo', 'mizo')"
                ),
                {"user": member.id},
            )
            found = set(counts.scalars())
            return found if len(found) == 2 else set()

    held: set[str] = await eventually(merged)
    assert held == {"taruvo", "mizo"}
