"""Answers a stopped process left `streaming`: ended `interrupted`, what they delivered billed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.models import Message
from assistant.schemas import MessageStatus
from billing import admission
from core import clock, tokens
from core.database import write_transaction

# (message id, the call's reservation id, the call's text, the model that wrote it)
Abandoned = tuple[str, str | None, str, str]


async def interrupt_abandoned(
    factory: async_sessionmaker[AsyncSession],
    *,
    older_than: timedelta,
    dead_processes: Sequence[str] = (),
) -> int:
    """Mark answers left `streaming` by a process that died `interrupted` (their checkpointed text
    stays): those of `dead_processes` at once, any other not checkpointed for `older_than`.

    The text of the model call each was writing is counted and reported to billing as delivered
    in the same transaction, so the call's reservation, whoever releases it, bills at least those
    completion tokens. Returns how many answers were marked.
    """
    cutoff = clock.now() - older_than
    stale = Message.updated_at < cutoff
    if dead_processes:
        stale = or_(stale, Message.process_id.in_(list(dead_processes)))
    async with factory() as session:
        rows = await session.execute(
            select(
                Message.id,
                Message.call_reservation_id,
                Message.content,
                Message.call_text_start,
                Message.model,
            ).where(Message.status == MessageStatus.STREAMING, stale)
        )
        found: list[Abandoned] = [
            (m, reservation, content[start:], model or "")
            for m, reservation, content, start, model in rows
        ]
    if not found:
        return 0
    delivered = await asyncio.to_thread(_count, found)  # an answer may be long: off the loop
    async with write_transaction(factory) as session:
        marked = set(
            await session.scalars(
                update(Message)
                .where(
                    Message.id.in_([m for m, *_ in found]),
                    Message.status == MessageStatus.STREAMING,
                )
                .values(status=MessageStatus.INTERRUPTED, finished_at=clock.now())
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
        await admission.report_delivered(
            session, delivered={r: n for m, (r, n) in delivered.items() if m in marked}
        )
    return len(marked)


def _count(found: list[Abandoned]) -> dict[str, tuple[str, int]]:
    """Per message with a known call: that call's reservation and its text's tokens."""
    return {
        message: (reservation, tokens.count_text(text, model))
        for message, reservation, text, model in found
        if reservation is not None
    }
