"""On PostgreSQL, requests that change several chats take their locks in one order
(`assistant.chat.lock_order`): the users' locks, then the chats' rows in id order, then the rest.
Each test holds a lock from a third connection so that the two requests reach the point where,
taking the rows in their own orders, each would wait for the other; PostgreSQL then failed one
of them (503 `database_conflict`). On SQLite (no such locks) these are skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from assistant.chat.lock_order import COUNTS_KEY
from assistant.models import Assistant, Chat, Message
from tests.api.billing_builders import seated_member
from tests.api.routes.test_chats_search_counts import _postgres_sessions
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Caller, eventually

pytestmark = pytest.mark.anyio

# How many backends of this database wait for a lock.
WAITERS = """SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'"""
USER_LOCK = "SELECT pg_advisory_xact_lock(:key, hashtext(:user))"


async def _waiters(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text(WAITERS)) or 0)


async def _assistant(harness: AppHarness, owner: Caller) -> str:
    body = {"name": f"{owner.username}'s", "visibility": "instance"}
    response = await harness.client.post("/api/assistants", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _until_waiting_or_done(
    engine: AsyncEngine, waiters: int, task: asyncio.Task[httpx.Response]
) -> None:
    """Until `waiters` backends wait for locks, or `task` ended without waiting."""

    async def reached() -> bool:
        return task.done() or await _waiters(engine) >= waiters

    got: bool = await eventually(reached)
    assert got


async def test_two_users_deleted_at_once_whose_chats_use_each_others_assistants_both_go(
    harness: AppHarness,
) -> None:
    sessions = await _postgres_sessions(harness)
    engine = harness.services.engine
    first, second = [await seated_member(harness, f"member-gone-{n}") for n in (1, 2)]
    theirs = {
        first.id: await _assistant(harness, second),
        second.id: await _assistant(harness, first),
    }
    for caller in (first, second):  # each talks to the other's assistant
        await harness.chat(caller, title="plain", assistantId=theirs[caller.id])

    def removing(caller: Caller) -> asyncio.Task[httpx.Response]:
        request = harness.client.delete(f"/api/users/{caller.id}", headers=harness.admin.headers)
        return asyncio.create_task(request)

    async with engine.connect() as blocker:
        # The first user's lock held: their removal stops where it first takes it.
        await blocker.execute(text(USER_LOCK), {"key": COUNTS_KEY, "user": first.id})
        first_gone = removing(first)
        await _until_waiting_or_done(engine, 1, first_gone)
        # The second's removal goes as far as it can meanwhile.
        second_gone = removing(second)
        await _until_waiting_or_done(engine, 2, second_gone)
        await blocker.rollback()
        responses = await asyncio.gather(first_gone, second_gone)
    assert [r.status_code for r in responses] == [204, 204], [r.text for r in responses]
    async with sessions() as session:
        owners = [first.id, second.id]
        left = await session.scalars(select(Chat.id).where(Chat.user_id.in_(owners)))
        assert list(left) == []
        kept = await session.scalars(select(Assistant.id).where(Assistant.owner_id.in_(owners)))
        assert list(kept) == []


async def test_a_user_removed_while_they_archive_a_chat_ends_without_a_deadlock(
    harness: AppHarness,
) -> None:
    sessions = await _postgres_sessions(harness)
    engine = harness.services.engine
    member = await seated_member(harness, "member-archiving")
    chats = [await harness.chat(member, title="plain") for _ in range(2)]
    async with engine.connect() as blocker:
        # The user's lock held: the removal stops where it first takes it.
        await blocker.execute(text(USER_LOCK), {"key": COUNTS_KEY, "user": member.id})
        removal = asyncio.create_task(
            harness.client.delete(f"/api/users/{member.id}", headers=harness.admin.headers)
        )
        await _until_waiting_or_done(engine, 1, removal)
        # A chat whose row the removal has not taken yet (if any: else the last).
        async with engine.connect() as probe:
            free = await probe.scalars(
                text(
                    "SELECT id FROM assistant_chat WHERE id = ANY(:chats) ORDER BY id "
                    "FOR UPDATE SKIP LOCKED"
                ),
                {"chats": chats},
            )
            archived = next(iter(free.all()), chats[-1])
            await probe.rollback()
        archiving = asyncio.create_task(
            harness.client.patch(
                f"/api/chats/{archived}", json={"archived": True}, headers=member.headers
            )
        )
        await _until_waiting_or_done(engine, 2, archiving)
        await blocker.rollback()
        removed, archive = await asyncio.gather(removal, archiving)
    assert removed.status_code == 204, removed.text
    # The archive came second: the chat was gone with its owner.
    assert archive.status_code == 404, archive.text
    assert archive.json()["code"] == "chat_not_found"
    async with sessions() as session:
        assert list(await session.scalars(select(Chat.id).where(Chat.id.in_(chats)))) == []


async def _during_removal(
    harness: AppHarness, member: Caller, other: Callable[[], Coroutine[Any, Any, httpx.Response]]
) -> tuple[httpx.Response, httpx.Response]:
    """The member's removal, held where it first takes their lock, and `other` sent meanwhile,
    up to where it waits or ends; then both let go. Their responses."""
    engine = harness.services.engine
    async with engine.connect() as blocker:
        await blocker.execute(text(USER_LOCK), {"key": COUNTS_KEY, "user": member.id})
        removal = asyncio.create_task(
            harness.client.delete(f"/api/users/{member.id}", headers=harness.admin.headers)
        )
        await _until_waiting_or_done(engine, 1, removal)
        meanwhile = asyncio.create_task(other())
        await _until_waiting_or_done(engine, 2, meanwhile)
        await blocker.rollback()
        removed, answered = await asyncio.gather(removal, meanwhile)
    return removed, answered


async def _gone(harness: AppHarness, kind: type[Chat] | type[Assistant], ids: list[str]) -> bool:
    async with harness.services.sessions() as session:
        return list(await session.scalars(select(kind.id).where(kind.id.in_(ids)))) == []


async def _changed_draft(harness: AppHarness, member: Caller) -> tuple[str, str]:
    """An assistant of the member's and its draft, changed (so publishing writes the assistant)."""
    published = await _assistant(harness, member)
    opened = await harness.client.post(f"/api/assistants/{published}/_edit", headers=member.headers)
    assert opened.status_code == 201, opened.text
    draft = str(opened.json()["id"])
    changed = await harness.client.patch(
        f"/api/assistants/{draft}", json={"name": "Renamed"}, headers=member.headers
    )
    assert changed.status_code == 200, changed.text
    return published, draft


async def _filed(harness: AppHarness, member: Caller) -> tuple[str, list[str]]:
    """A folder of the member's holding two of their chats."""
    made = await harness.client.post(
        "/api/chat-folders", json={"name": "Work"}, headers=member.headers
    )
    assert made.status_code == 201, made.text
    folder = str(made.json()["id"])
    filed = [await harness.chat(member, title="plain") for _ in range(2)]
    for chat in filed:
        moved = await harness.client.patch(
            f"/api/chats/{chat}", json={"folderId": folder}, headers=member.headers
        )
        assert moved.status_code == 200, moved.text
    return folder, filed


async def test_a_draft_published_while_its_owner_is_removed_ends_without_a_deadlock(
    harness: AppHarness,
) -> None:
    await _postgres_sessions(harness)
    member = await seated_member(harness, "member-publishing")
    published, draft = await _changed_draft(harness, member)
    tried = [await harness.chat(member, title="plain", assistantId=draft) for _ in range(2)]

    async def publishing() -> httpx.Response:  # its chats move to the published assistant
        return await harness.client.post(f"/api/assistants/{draft}/_commit", headers=member.headers)

    removed, publish = await _during_removal(harness, member, publishing)
    assert (removed.status_code, publish.status_code) == (204, 200), (removed.text, publish.text)
    assert await _gone(harness, Chat, tried)
    assert await _gone(harness, Assistant, [published, draft])


async def test_an_assistant_deleted_while_its_owner_is_removed_ends_without_a_deadlock(
    harness: AppHarness,
) -> None:
    await _postgres_sessions(harness)
    member = await seated_member(harness, "member-assistant-gone")
    assistant = await _assistant(harness, member)
    talking = [await harness.chat(member, title="plain", assistantId=assistant) for _ in range(2)]

    async def deleting() -> httpx.Response:  # its chats are left without an assistant
        return await harness.client.delete(f"/api/assistants/{assistant}", headers=member.headers)

    removed, deleted = await _during_removal(harness, member, deleting)
    assert (removed.status_code, deleted.status_code) == (204, 204), (removed.text, deleted.text)
    assert await _gone(harness, Chat, talking)
    assert await _gone(harness, Assistant, [assistant])


async def test_a_folder_deleted_while_its_owner_is_removed_ends_without_a_deadlock(
    harness: AppHarness,
) -> None:
    await _postgres_sessions(harness)
    member = await seated_member(harness, "member-folder-gone")
    folder, filed = await _filed(harness, member)

    async def deleting() -> httpx.Response:  # its chats are left in no folder
        return await harness.client.delete(f"/api/chat-folders/{folder}", headers=member.headers)

    removed, deleted = await _during_removal(harness, member, deleting)
    assert (removed.status_code, deleted.status_code) == (204, 204), (removed.text, deleted.text)
    assert await _gone(harness, Chat, filed)


async def test_a_message_sent_while_its_chat_is_archived_both_are_kept(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    sessions = await _postgres_sessions(harness)
    engine = harness.services.engine
    upstream.behave("fake", text="kept", chunks=1)
    member = await seated_member(harness, "member-sending")
    chat = await harness.chat(member, title="plain")
    async with engine.connect() as blocker:
        # The owner's lock held: the archive stops where it first takes it.
        await blocker.execute(text(USER_LOCK), {"key": COUNTS_KEY, "user": member.id})
        archiving = asyncio.create_task(
            harness.client.patch(
                f"/api/chats/{chat}", json={"archived": True}, headers=member.headers
            )
        )
        await _until_waiting_or_done(engine, 1, archiving)
        # A turn written meanwhile: its messages and the chat's row.
        sending = asyncio.create_task(
            harness.client.post(
                f"/api/chats/{chat}/messages", json={"content": "zerovan"}, headers=member.headers
            )
        )
        await _until_waiting_or_done(engine, 2, sending)
        await blocker.rollback()
        archive, sent = await asyncio.gather(archiving, sending)
    assert (archive.status_code, sent.status_code) == (200, 201), (archive.text, sent.text)
    async with sessions() as session:
        assert (await session.get(Chat, chat)).archived  # type: ignore[union-attr]
        said = await session.scalars(select(Message.content).where(Message.chat_id == chat))
        assert sorted(said) == ["kept", "zerovan"]


async def test_the_users_lock_taken_first_is_the_one_the_search_triggers_take(
    harness: AppHarness,
) -> None:
    sessions = await _postgres_sessions(harness)
    async with sessions() as session:
        body = await session.scalar(
            text("SELECT prosrc FROM pg_proc WHERE proname = 'assistant_chat_deleting'")
        )
    assert f"pg_advisory_xact_lock({COUNTS_KEY}, hashtext(OLD.user_id))" in str(body)


async def _removed_during(
    harness: AppHarness,
    member: Caller,
    other: Callable[[], Coroutine[Any, Any, httpx.Response]],
    held: str,
    row: str,
) -> tuple[httpx.Response, httpx.Response]:
    """`other` sent first and held where it waits for the row `held` locks (`row` its id), the
    member's removal sent meanwhile, up to where it waits or ends; then both let go."""
    engine = harness.services.engine
    async with engine.connect() as blocker:
        await blocker.execute(text(held), {"row": row})
        first = asyncio.create_task(other())
        await _until_waiting_or_done(engine, 1, first)
        removal = asyncio.create_task(
            harness.client.delete(f"/api/users/{member.id}", headers=harness.admin.headers)
        )
        await _until_waiting_or_done(engine, 2, removal)
        await blocker.rollback()
        answered, removed = await asyncio.gather(first, removal)
    return answered, removed


async def test_a_user_removed_while_their_folder_is_being_deleted_ends_without_a_deadlock(
    harness: AppHarness,
) -> None:
    await _postgres_sessions(harness)
    member = await seated_member(harness, "member-folder-first")
    folder, filed = await _filed(harness, member)

    async def deleting() -> httpx.Response:  # held where it deletes the folder's row
        return await harness.client.delete(f"/api/chat-folders/{folder}", headers=member.headers)

    held = "SELECT 1 FROM assistant_chat_folder WHERE id = :row FOR KEY SHARE"
    deleted, removed = await _removed_during(harness, member, deleting, held, folder)
    assert (deleted.status_code, removed.status_code) == (204, 204), (deleted.text, removed.text)
    assert await _gone(harness, Chat, filed)


async def test_a_user_removed_while_their_draft_is_being_published_ends_without_a_deadlock(
    harness: AppHarness,
) -> None:
    await _postgres_sessions(harness)
    member = await seated_member(harness, "member-publishing-first")
    published, draft = await _changed_draft(harness, member)
    tried = [await harness.chat(member, title="plain", assistantId=draft) for _ in range(2)]

    async def publishing() -> httpx.Response:  # held where it writes the published assistant
        return await harness.client.post(f"/api/assistants/{draft}/_commit", headers=member.headers)

    held = "SELECT 1 FROM assistant_assistant WHERE id = :row FOR SHARE"
    publish, removed = await _removed_during(harness, member, publishing, held, published)
    assert (publish.status_code, removed.status_code) == (200, 204), (publish.text, removed.text)
    assert await _gone(harness, Chat, tried)
    assert await _gone(harness, Assistant, [published, draft])
