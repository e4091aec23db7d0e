"""A stream writes the events a run has ready at once together: fewer writes, the same events."""

from __future__ import annotations

import asyncio

import pytest

from assistant.chat.runs import Run, StreamEvent
from assistant.schemas import MessageStatus

pytestmark = pytest.mark.anyio


def _run() -> Run:
    return Run(chat_id="c", message_id="m", model="fake")


async def test_a_follower_gets_the_start_with_the_text_already_written_and_usage_with_done() -> (
    None
):
    run = _run()
    run.append("Hello")
    batches = run.follow_batches(None)
    first = await anext(batches)
    assert [(e.id, e.event) for e in first] == [("0:start", "start"), ("5", "delta")]

    waiting = asyncio.ensure_future(anext(batches))
    run.append(" world")
    run.finish(MessageStatus.COMPLETE, usage={"promptTokens": 1}, error=None)
    last = await asyncio.wait_for(waiting, timeout=5)
    assert [(e.id, e.event) for e in last] == [
        ("11", "delta"),
        ("11:usage", "usage"),
        ("11:done", "done"),
    ]
    assert last[0].data == {"text": " world"}
    with pytest.raises(StopAsyncIteration):
        await anext(batches)


async def test_batches_carry_the_events_follow_gives_one_by_one() -> None:
    run = _run()
    run.think("Let me see.")
    run.append("Hel")
    run.emit("toolCall", {"id": "call-0"})
    run.append("lo")
    run.finish(MessageStatus.COMPLETE, usage={"promptTokens": 1}, error=None)
    for last_event_id in (None, "3", "3:e0", "5:usage"):
        single: list[StreamEvent] = [e async for e in run.follow(last_event_id)]
        batched = [e async for batch in run.follow_batches(last_event_id) for e in batch]
        assert batched == single and single, last_event_id
