"""An answer's events read from its saved checkpoints, for a process that is not writing it.

A client may re-attach to any process; when another one is generating the answer (or one died
while doing so) its events are rebuilt from what `Generator.checkpoint` saved, with the same
event ids as the writing process's `Run.follow` gives.

On PostgreSQL the reader is pushed, not polling: it marks the answer `followed`, and each
checkpoint (and the final save) of a followed answer sends a NOTIFY with the answer's id in the
transaction that saved it (`wake_followers`); the process's one listening connection
(`core.listening`) wakes the reader, which reads the row once. It reads once more after
`idle_seconds` without news (a writer that died sends none). On SQLite (one host) the reader reads
every `poll_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, text, update
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
from core.database import run_write
from core.listening import Listener

STALE_AFTER = timedelta(seconds=120)  # a `streaming` answer not checkpointed since is abandoned
CHANNEL = "switchboard_answer"  # payload: the answer's id
_WAKE = text(f"SELECT pg_notify('{CHANNEL}', :message)")
_MESSAGES = Message.metadata.tables[Message.__tablename__]
_FOLLOW = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("message"), _MESSAGES.c.status == "streaming")
    # Not a checkpoint: `updated_at` stays, or an abandoned answer would look alive.
    .values(followed=True, updated_at=_MESSAGES.c.updated_at)
)


def listener_for(factory: async_sessionmaker[AsyncSession]) -> Listener | None:
    """The process's listening connection for followed answers (PostgreSQL), else None."""
    url = factory.kw["bind"].url
    if url.get_backend_name() != "postgresql":
        return None
    return Listener(url.render_as_string(hide_password=False), CHANNEL)


def wake_followers(connection: Connection, message_id: str, followed: bool) -> None:
    """In the transaction saving a checkpoint of an answer: tell its readers in other processes
    (PostgreSQL; when one follows it) once that transaction commits."""
    if followed and connection.dialect.name == "postgresql":
        connection.execute(_WAKE, {"message": message_id})


async def follow(
    factory: async_sessionmaker[AsyncSession],
    message: Message,
    last_event_id: str | None,
    *,
    poll_seconds: float,
    listener: Listener | None = None,
    idle_seconds: float = 10.0,
) -> AsyncIterator[StreamEvent]:
    """The answer's events after `last_event_id`, read from its checkpoints as they are saved
    (woken by `listener`, else every `poll_seconds`) until it ends (or is abandoned: then it ends
    `interrupted`)."""
    sent, stage = parse_event_id(last_event_id)
    client_sent, thought = sent, 0
    if last_event_id is None:
        yield start_event(message.chat_id, message.id, message.model or "", message.dropped_turns)
    async with _wake_ups(factory, message.id, listener, poll_seconds, idle_seconds) as woken:
        while True:
            async with factory() as session:
                current = await session.get(Message, message.id)
            if current is None:
                return
            # What the client has of the reasoning, as far as the checkpoint (which may lag
            # behind what the client got from the writing process) shows it yet.
            total = len(current.reasoning or "")
            seen = thought_seen(_thoughts(current), client_sent, stage, total)
            events, sent, thought = _caught_up(current, sent, max(thought, seen))
            for event in events:
                yield event
            status = current.status
            stale = clock.now() - clock.as_utc(current.updated_at) > STALE_AFTER
            if status == "streaming" and stale:
                status = "interrupted"
            if status in FINAL_STATUSES:
                for event in final_events(sent, stage, current.id, status, *_outcome(current)):
                    yield event
                return
            await woken()


@contextlib.asynccontextmanager
async def _wake_ups(
    factory: async_sessionmaker[AsyncSession],
    message_id: str,
    listener: Listener | None,
    poll_seconds: float,
    idle_seconds: float,
) -> AsyncIterator[Callable[[], Awaitable[Any]]]:
    """What the reader awaits between reads: a NOTIFY of the answer (listening before the
    answer is marked followed, and so before the first read), else a timer."""
    if listener is None:
        yield lambda: asyncio.sleep(poll_seconds)
        return
    async with listener.watching(message_id) as watch:
        await run_write(factory, _mark_followed, message_id)
        yield lambda: watch.wait(idle_seconds=idle_seconds, fallback_seconds=poll_seconds)


def _mark_followed(connection: Connection, message_id: str) -> None:
    connection.execute(_FOLLOW, {"message": message_id})


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
