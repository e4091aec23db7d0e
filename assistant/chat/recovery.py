"""Answers a stopped process left `streaming`: ended `interrupted`, what they delivered billed.

The sweeper (`sweep_forever`, started by the app) runs `sweep_once` every SWEEP_SECONDS: it says
this process is alive, then ends what dead processes left behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.chat.saved_stream import STALE_AFTER
from assistant.models import Message
from assistant.schemas import MessageStatus
from billing import admission, ledger
from core import clock, processes, tokens
from core.database import write_transaction
from core.processes import Process

log = logging.getLogger(__name__)
SWEEP_SECONDS = 5.0

# (message id, the call's reservation id, the call's reasoning and text, the model that wrote it)
Abandoned = tuple[str, str | None, str, str]


async def interrupt_abandoned(
    factory: async_sessionmaker[AsyncSession],
    *,
    older_than: timedelta,
    dead_processes: Sequence[str] = (),
) -> int:
    """Mark answers left `streaming` by a process that died `interrupted` (their checkpointed text
    stays): those of `dead_processes` at once, any other not checkpointed for `older_than`.

    The text (and reasoning) of the model call each was writing is counted and reported to
    billing as delivered in the same transaction, so the call's reservation, whoever releases
    it, bills at least those completion tokens. Returns how many answers were marked.
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
                Message.reasoning,
                Message.call_reasoning_start,
                Message.model,
            ).where(Message.status == MessageStatus.STREAMING, stale)
        )
        found: list[Abandoned] = [
            (m, reservation, (reasoning or "")[thought:] + content[start:], model or "")
            for m, reservation, content, start, reasoning, thought, model in rows
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


async def sweep_forever(factory: async_sessionmaker[AsyncSession], me: Process) -> None:
    """Forever, every SWEEP_SECONDS: say this process is alive, then end what dead ones left."""
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        try:
            await processes.beat(factory, me)
            await sweep_once(factory, me)
        except Exception:
            log.exception("sweep failed")


async def sweep_once(factory: async_sessionmaker[AsyncSession], me: Process) -> None:
    """Mark answers a dead process abandoned `interrupted` (at once when it is known dead, else
    after STALE_AFTER without a checkpoint), release its reservations, and those whose lease ran
    out.
    (`api.webhooks` sends webhooks, budget alerts included.)"""
    dead = await processes.dead(factory, me)
    marked = await interrupt_abandoned(factory, older_than=STALE_AFTER, dead_processes=dead)
    if marked:
        log.warning("%d answer(s) left streaming by a stopped process marked interrupted", marked)
    await ledger.release_of(factory, dead)
    await processes.forget(factory, dead)
    await ledger.release_expired(factory)
