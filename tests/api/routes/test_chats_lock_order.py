"""On PostgreSQL, the chat search's drains and the transactions that change a user's counts take
their locks in one order (migration assistant_0027): the user's lock, then chats' starts. A
request that PostgreSQL still picks as a deadlock's victim answers a JSON error, not a 500.
On SQLite (no such locks) these are skipped.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from assistant.chat.search import drain
from assistant.models import Chat, Message
from tests.api.billing_builders import seated_member
from tests.api.routes.test_chats_search_counts import KEPT, TRUTH, _postgres_sessions, searched
from tests.support import AppHarness, eventually

pytestmark = pytest.mark.anyio

# Whether a backend of this database waits for a lock (a user's, when `users`).
WAITING = """SELECT EXISTS (SELECT 1 FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
AND (NOT :users OR wait_event = 'advisory'))"""


async def _waiting(engine: AsyncEngine, *, users: bool) -> bool:
    async with engine.connect() as connection:
        return bool(await connection.scalar(text(WAITING), {"users": users}))


async def test_a_drain_and_a_transaction_changing_two_chats_of_its_user_do_not_deadlock(
    harness: AppHarness,
) -> None:
    sessions = await _postgres_sessions(harness)
    member = await seated_member(harness, "member-lock-order")
    first, second = [await harness.chat(member, title="plain") for _ in range(2)]
    engine = harness.services.engine
    async with engine.connect() as writer:
        # This transaction finds any cycle it is in first, so it would be PostgreSQL's victim.
        await writer.execute(text("SET LOCAL deadlock_timeout = '10ms'"))
        # One chat archived (its counts changed: the user's lock is held from here) ...
        await writer.execute(update(Chat).where(Chat.id == first).values(archived=True))
        # ... while a message saved in the other leaves its starts pending, and a drain starts.
        async with sessions() as session:
            session.add(Message(chat_id=second, role="user", content="kalomi rutavo"))
            await session.commit()
        draining = asyncio.create_task(drain(engine, user_id=member.id))
        waited: bool = await eventually(lambda: _waiting(engine, users=True))
        assert waited
        # Then the other chat: it waited for the drain, which held it and waited for the user.
        await writer.execute(update(Chat).where(Chat.id == second).values(archived=True))
        await writer.commit()
    await draining
    await drain(engine, user_id=member.id)
    async with sessions() as session:
        truth = {tuple(row[:3]): row[3] for row in await session.execute(text(TRUTH))}
        kept = {tuple(row[:3]): row[3] for row in await session.execute(text(KEPT))}
    mine = {key: count for key, count in truth.items() if key[0] == member.id}
    assert {key: count for key, count in kept.items() if key[0] == member.id} == mine
    assert mine[(member.id, True, "rutavo")] == 1


async def test_a_request_picked_as_a_deadlocks_victim_answers_a_json_503(
    harness: AppHarness,
) -> None:
    await _postgres_sessions(harness)
    member = await seated_member(harness, "member-deadlock-victim")
    chat = await harness.chat(member, title="plain")
    engine = harness.services.engine
    async with engine.connect() as other:
        await other.execute(text("SET LOCAL deadlock_timeout = '30s'"))  # the request finds it
        await other.execute(
            text("SELECT 1 FROM assistant_chat_prefixes WHERE chat_id = :c AND lo = '' FOR UPDATE"),
            {"c": chat},
        )
        archiving = asyncio.create_task(
            harness.client.patch(
                f"/api/chats/{chat}", json={"archived": True}, headers=member.headers
            )
        )
        waited: bool = await eventually(lambda: _waiting(engine, users=False))  # for its starts
        assert waited
        # The request holds the chat's row: each now waits for the other.
        await other.execute(update(Chat).where(Chat.id == chat).values(title="renamed"))
        response = await archiving
        await other.rollback()
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_conflict"
    assert response.headers["Retry-After"] == "1"


async def test_the_list_answers_exactly_at_once_while_a_chat_of_its_user_is_being_written(
    harness: AppHarness,
) -> None:
    sessions = await _postgres_sessions(harness)
    member = await seated_member(harness, "member-skipped")
    chats = [await harness.chat(member, title="plain") for _ in range(2)]
    async with sessions() as session:
        session.add(Message(chat_id=chats[1], role="user", content="zokamine"))
        await session.commit()
    async with sessions() as writing:  # a message being saved holds its chat's starts
        writing.add(Message(chat_id=chats[1], role="assistant", content="zokanevo"))
        await writing.flush()
        # The list's drain skips that chat (it would have waited for the writer's commit), so
        # its pending starts stay, and the list counts its total from the chats instead.
        response = await asyncio.wait_for(
            harness.client.get("/api/chats", params={"q": "zoka"}, headers=member.headers), 10
        )
        await writing.rollback()
    assert response.status_code == 200, response.text
    body = response.json()
    every = await searched(harness, member.id, "zoka")
    assert every == [chats[1]]
    assert (body["total"], [c["id"] for c in body["_embedded"]["chats"]]) == (1, every)
