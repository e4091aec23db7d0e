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
    final_events,
    parse_event_id,
    start_event,
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
    if last_event_id is None:
        yield start_event(message.chat_id, message.id, message.model or "", message.dropped_turns)
    while True:
        async with factory() as session:
            current = await session.get(Message, message.id)
        if current is None:
            return
        if len(current.content) > sent:
            yield StreamEvent(str(len(current.content)), "delta", {"text": current.content[sent:]})
            sent = len(current.content)
        status = current.status
        if status == "streaming" and clock.now() - clock.as_utc(current.updated_at) > STALE_AFTER:
            status = "interrupted"
        if status in FINAL_STATUSES:
            for event in final_events(sent, stage, current.id, status, *_outcome(current)):
                yield event
            return
        await asyncio.sleep(poll_seconds)


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
