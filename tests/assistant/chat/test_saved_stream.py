"""Re-attaching to an answer from its saved checkpoint (as another process does): reasoning,
text and the ids that say what a client has, the same as from the process that wrote it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from assistant.chat import saved_stream
from assistant.models import Message
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
