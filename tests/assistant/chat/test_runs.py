"""What another process sees: replays from saved checkpoints and cancels through the database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from assistant.models import Message
from core.database import write_transaction
from tests.fakes.upstream import FakeUpstream
from tests.support import Harnesses, eventually, parse_sse

pytestmark = pytest.mark.anyio
TEXT = "".join(f"piece{i} " for i in range(80))


async def test_answer_no_longer_in_memory_replays_from_the_database(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    upstream.behave("fake", text=TEXT, chunks=8)
    async with make_harness.running(stream_buffer_ttl_seconds=0) as harness:
        chat_id = await harness.chat(harness.admin)
        sent = await harness.client.post(
            f"/api/chats/{chat_id}/messages", json={"content": "hi"}, headers=harness.admin.headers
        )
        message_id = sent.json()["id"]
        registry = harness.services.chat.registry
        await eventually(lambda: registry.get(message_id) is None, seconds=5, interval=0.01)
        replay = await harness.client.get(
            f"/api/chats/{chat_id}/messages/{message_id}/events",
            headers={**harness.admin.headers, "Last-Event-ID": "10"},
        )
        events = parse_sse(replay.text)
        assert [e[1] for e in events] == ["delta", "usage", "done"]
        assert events[0][2]["text"] == TEXT[10:]
        assert events[1][2]["costMicros"] == sent.json()["costMicros"]


async def test_cancel_flag_set_by_another_process_stops_the_answer(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    upstream.behave("fake", text=TEXT, chunks=80, delay=0.03)
    async with make_harness.running(checkpoint_seconds=0.1) as harness:
        chat_id = await harness.chat(harness.admin)
        sending = asyncio.create_task(
            harness.client.post(
                f"/api/chats/{chat_id}/messages",
                json={"content": "go"},
                headers=harness.admin.headers,
            )
        )
        engine = harness.services.chat
        (run, *_) = await eventually(engine.registry.active, seconds=10, interval=0.01)
        message_id = run.message_id
        async with write_transaction(harness.services.sessions) as session:
            await session.execute(
                update(Message).where(Message.id == message_id).values(cancel_requested=True)
            )
        answered = (await sending).json()
        assert answered["status"] == "cancelled"
        assert TEXT.startswith(answered["content"]) and len(answered["content"]) < len(TEXT)
