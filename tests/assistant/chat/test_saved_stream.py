"""Re-attaching to an answer from its saved checkpoint (as another process does): reasoning,
text and the ids that say what a client has, the same as from the process that wrote it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from assistant.chat import saved_stream
from assistant.models import Message
from tests.database_passes import on_postgres
from tests.fakes.upstream import FakeUpstream
from tests.support import Harnesses, eventually, parse_sse

pytestmark = pytest.mark.anyio
CALC = "builtin-calculator__calculate"
CALL = {
    "id": "c1",
    "type": "function",
    "function": {"name": CALC, "arguments": '{"expression": "6*7"}'},
}
THOUGHT = "Work it out with the calculator, then say it."


def _parts(events: list[tuple[str, str, Any]]) -> tuple[str, str]:
    text = "".join(e[2]["text"] for e in events if e[1] == "delta")
    return text, "".join(e[2]["text"] for e in events if e[1] == "reasoning")


async def test_reattaching_from_the_checkpoint_after_any_event_gets_the_rest_once(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    # Reasoning before the tool call and again before the answer, on both model steps.
    upstream.behave("fake", text="It is 42.", reasoning=THOUGHT, chunks=3, tool_calls=[[CALL]])
    async with make_harness.running(stream_buffer_ttl_seconds=0) as harness:
        made = await harness.client.post(
            "/api/chats", json={"toolkitIds": ["builtin-calculator"]}, headers=harness.admin.headers
        )
        chat_id = made.json()["id"]
        response = await harness.client.post(
            f"/api/chats/{chat_id}/messages",
            json={"content": "Six times seven?", "stream": True},
            headers=harness.admin.headers,
        )
        events = parse_sse(response.text)
        whole = _parts(events)
        assert whole == ("It is 42.", THOUGHT + THOUGHT)
        names = [e[1] for e in events]
        assert names.index("reasoning") < names.index("toolCall") < names.index("delta")
        message_id = events[0][2]["messageId"]
        registry = harness.services.chat.registry
        await eventually(lambda: registry.get(message_id) is None, seconds=5, interval=0.01)
        for i, (event_id, _, _) in enumerate(events[:-1]):
            replay = await harness.client.get(
                f"/api/chats/{chat_id}/messages/{message_id}/events",
                headers={**harness.admin.headers, "Last-Event-ID": event_id},
            )
            before, after = _parts(events[: i + 1]), _parts(parse_sse(replay.text))
            assert (before[0] + after[0], before[1] + after[1]) == whole, event_id
        sent = json.dumps(upstream.recorder.requests[-1]["messages"])
        assert "calculator, then" not in sent, "reasoning never goes back to the model"


async def test_another_process_follows_the_reasoning_live_from_the_checkpoints(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    upstream.behave("fake", text="It is 42.", reasoning=THOUGHT, chunks=10, delay=0.05)
    async with make_harness.running(checkpoint_seconds=0.1) as harness:
        chat_id = await harness.chat(harness.admin)
        sending = asyncio.create_task(
            harness.client.post(
                f"/api/chats/{chat_id}/messages",
                json={"content": "Six times seven?"},
                headers=harness.admin.headers,
            )
        )
        registry = harness.services.chat.registry
        (run,) = await eventually(registry.active, seconds=10, interval=0.01)
        async with harness.services.sessions() as session:
            message = await session.get(Message, run.message_id)
        assert message is not None
        followed = saved_stream.follow(harness.services.sessions, message, None, poll_seconds=0.05)
        events = [(e.id, e.event, e.data) async for e in followed]
        assert (await sending).status_code == 201
    assert _parts(events) == ("It is 42.", THOUGHT)
    assert len([e for e in events if e[1] == "reasoning"]) > 1, "reasoning came as it was saved"


async def test_on_postgresql_a_reader_on_another_process_is_pushed_each_checkpoint(
    upstream: FakeUpstream, make_harness: Harnesses, tmp_path: Path
) -> None:
    """Two app instances on one database: the answer is written by `a`, read through `b`, which
    is woken by NOTIFY (its poll is an hour: a reader that polled would not finish), reads once per
    wake-up, and finishes although its listening connection is dropped mid-answer."""
    if not on_postgres():
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; on SQLite the reader polls (tests above)")
    words = [f"w{i} " for i in range(20)]
    upstream.behave("fake", text="".join(words), chunks=len(words), delay=0.1)  # ~2 s
    a = await make_harness(checkpoint_seconds=0.2)
    b = await make_harness(database_url=a.services.settings.database_url, path=tmp_path / "b")
    engine = b.services.chat
    engine.config = replace(engine.config, poll_seconds=3600)
    assert engine.listener is not None
    reads: list[str] = []

    def count(_c: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "WHERE assistant_message.id =" in statement and statement.startswith("SELECT"):
            reads.append(statement)

    event.listen(b.services.engine.sync_engine, "before_cursor_execute", count)
    chat_id = await a.chat(a.admin)
    sending = asyncio.create_task(
        a.client.post(
            f"/api/chats/{chat_id}/messages", json={"content": "go"}, headers=a.admin.headers
        )
    )
    (run,) = await eventually(a.services.chat.registry.active, seconds=10, interval=0.01)
    followed = await engine.events(
        user_id=a.admin.id, chat_id=chat_id, message_id=run.message_id, last_event_id=None
    )
    events, dropped = [], None
    async with asyncio.timeout(20):
        async for streamed in followed:
            events.append((streamed.id, streamed.event, streamed.data))
            if dropped is None and len(events) == 3:  # start and two deltas: drop the listener
                dropped = engine.listener.backend_pid
                async with a.services.sessions() as session:
                    await session.execute(text("SELECT pg_terminate_backend(:p)"), {"p": dropped})
    assert (await sending).status_code == 201
    assert _parts(events)[0] == "".join(words)
    assert events[-1][1] == "done" and events[-1][2]["status"] == "complete"
    assert len([e for e in events if e[1] == "delta"]) >= 4, "the text came as it was saved"
    assert dropped is not None and engine.listener.backend_pid not in (None, dropped)
    # One read per wake-up: each notification, the drop, the reconnection; and the first reads.
    assert len(reads) <= engine.listener.notifications + 5, len(reads)
