"""An answer's events read from its saved checkpoints, for a process that is not writing it.

A client may re-attach to any process; when another one is generating the answer (or one died
while doing so) its events are rebuilt from what `Generator.checkpoint` saved, with the same
event ids as the writing process's `Run.follow` gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.chat.runs import (
    FINAL_STATUSES,
    StreamEvent,
    Thought,
    final_events,
    parse_event_id,
    reasoning_event,
    start_event,
    thought_seen,
)
from assistant.models import Message
from core import clock

STALE_AFTER = timedelta(seconds=120)  # a `streaming` answer not checkpointed since is abandoned


async def follow(
    factory: async_sessionmaker[AsyncSession],
    message: Message,
    last_event_id: str | None,
    *,
    poll_seconds: float,
) -> AsyncIterator[StreamEvent]:
    """The answer's events after `last_event_id`, polling its checkpoints every `poll_seconds`
    until it ends (or is abandoned: then it ends `interrupted`)."""
    sent, stage = parse_event_id(last_event_id)
    client_sent, thought = sent, 0
    if last_event_id is None:
        yield start_event(message.chat_id, message.id, message.model or "", message.dropped_turns)
    while True:
        async with factory() as session:
            current = await session.get(Message, message.id)
        if current is None:
            return
        # What the client has of the reasoning, as far as the checkpoint (which may lag behind
        # what the client got from the writing process) shows it yet.
        total = len(current.reasoning or "")
        seen = thought_seen(_thoughts(current), client_sent, stage, total)
        events, sent, thought = _caught_up(current, sent, max(thought, seen))
        for event in events:
            yield event
        status = current.status
        if status == "streaming" and clock.now() - clock.as_utc(current.updated_at) > STALE_AFTER:
            status = "interrupted"
        if status in FINAL_STATUSES:
            for event in final_events(sent, stage, current.id, status, *_outcome(current)):
                yield event
            return
        await asyncio.sleep(poll_seconds)


def _caught_up(message: Message, sent: int, thought: int) -> tuple[list[StreamEvent], int, int]:
    """The saved answer's events after `sent` characters of text and `thought` of reasoning
    (the text before each stretch of reasoning first, as `Run.follow` sends them), and how far
    they reach."""
    events = []
    for offset, end, _ in _thoughts(message):
        if end <= thought:
            continue
        if offset > sent:
            events.append(StreamEvent(str(offset), "delta", {"text": message.content[sent:offset]}))
            sent = offset
        events.append(reasoning_event(sent, message.reasoning or "", thought, end))
        thought = end
    if len(message.content) > sent:
        events.append(
            StreamEvent(str(len(message.content)), "delta", {"text": message.content[sent:]})
        )
        sent = len(message.content)
    return events, sent, thought


def _thoughts(message: Message) -> list[Thought]:
    """The saved stretches of reasoning (`Run.thoughts`)."""
    return [(offset, end, events) for offset, end, events in message.reasoning_marks or ()]


def _outcome(message: Message) -> tuple[Any, Any, list[dict[str, Any]] | None]:
    """The saved answer's usage, error and citations, as its final events carry them."""
    usage = None
    if message.status != "failed":
        usage = {
            "promptTokens": message.prompt_tokens,
            "completionTokens": message.completion_tokens,
            "costMicros": message.cost_micros,
        }
    error = None
    if message.error_code:
        error = {"code": message.error_code, "message": message.error_message or ""}
    return usage, error, message.citations
