"""Answers outlive trouble: shutdown interrupts and saves them, a dead process's are marked."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from assistant.chat import recovery
from assistant.models import Message
from core import clock
from core.database import write_transaction
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Harnesses, eventually

pytestmark = pytest.mark.anyio
TEXT = "".join(f"token{i} " for i in range(200))


async def test_shutdown_ends_running_answers_as_interrupted_with_their_text_saved(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    upstream.behave("fake", text=TEXT, chunks=200, delay=0.05)
    async with make_harness.running() as harness:
        chat_id = await harness.chat(harness.admin)
        sending = asyncio.create_task(
            harness.client.post(
                f"/api/chats/{chat_id}/messages",
                json={"content": "go"},
                headers=harness.admin.headers,
            )
        )
        engine = harness.services.chat
        run = await eventually(
            lambda: next((r for r in engine.registry.active() if len(r.text) >= 10), None),
            seconds=10,
            interval=0.01,
        )
        message_id = run.message_id
        await engine.shutdown(grace_seconds=0.1)
        answered = await sending
        assert answered.json()["status"] == "interrupted"
        async with harness.services.sessions() as session:
            saved = await session.get(Message, message_id)
        assert saved is not None and saved.status == "interrupted"
        assert saved.content and TEXT.startswith(saved.content) and saved.finished_at is not None
    # The fake provider's own thread sees the closed connection when its loop next runs.
    assert await asyncio.to_thread(upstream.recorder.disconnected.wait, 10)


async def test_answers_left_streaming_by_a_dead_process_are_marked_interrupted(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    chat_id = await harness.chat(harness.admin)
    sent = await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "hi"}, headers=harness.admin.headers
    )
    message_id = sent.json()["id"]
    long_ago = clock.now() - timedelta(minutes=10)
    async with write_transaction(harness.services.sessions) as session:
        await session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(status="streaming", content="partial", updated_at=long_ago)
        )
    marked = await recovery.interrupt_abandoned(
        harness.services.sessions, older_than=timedelta(minutes=2)
    )
    assert marked == 1
    saved = await harness.client.get(
        f"/api/chats/{chat_id}/messages/{message_id}", headers=harness.admin.headers
    )
    assert saved.json()["status"] == "interrupted" and saved.json()["content"] == "partial"
