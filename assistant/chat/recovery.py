"""Answers a stopped process left `streaming`: ended `interrupted`, what they delivered billed.

The sweeper (`sweep_forever`, started by the app) runs `sweep_once` every SWEEP_SECONDS: it says
this process is alive, then ends what dead processes left behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.chat.saved_stream import STALE_AFTER
from assistant.models import Message
from assistant.schemas import MessageStatus
from billing import admission, ledger
from billing.models import LedgerEntry
from core import clock, processes, tokens
from core.database import write_transaction
from core.processes import Process

log = logging.getLogger(__name__)
SWEEP_SECONDS = 5.0

# (message id, the call's reservation id, the call's reasoning and text, the model that wrote it)
Abandoned = tuple[str, str | None, str, str]
# The bill of an answer's call, once its reservation is released, as the answer's usage.
_BILL = select(LedgerEntry).where(LedgerEntry.reservation_id == Message.call_reservation_id)


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
    return len(await _interrupt(factory, older_than, dead_processes))


async def _interrupt(
    factory: async_sessionmaker[AsyncSession],
    older_than: timedelta,
    dead_processes: Sequence[str],
) -> set[str]:
    """`interrupt_abandoned`; the ids of the answers it marked."""
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
        return set()
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
    return marked


async def _show_bills(factory: async_sessionmaker[AsyncSession], answers: set[str]) -> None:
    """Give interrupted answers whose call's reservation is released the tokens and cost it
    billed (estimated), as a settled answer shows them; an answer whose call is still held keeps
    none. (Only the last call's: the calls of earlier tool steps are added up when an answer
    ends, which an abandoned one never did.)"""
    if not answers:
        return
    bill = _BILL.with_only_columns
    async with write_transaction(factory) as session:
        await session.execute(
            update(Message)
            .where(Message.id.in_(list(answers)), exists(_BILL))
            .values(
                prompt_tokens=bill(LedgerEntry.prompt_tokens).scalar_subquery(),
                completion_tokens=bill(LedgerEntry.completion_tokens).scalar_subquery(),
                cost_micros=bill(LedgerEntry.cost_micros).scalar_subquery(),
                usage_estimated=True,
            )
            .execution_options(synchronize_session=False)
        )


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
    out, then show those answers what they were billed.
    (`api.webhooks` sends webhooks, budget alerts included.)"""
    dead = await processes.dead(factory, me)
    marked = await _interrupt(factory, STALE_AFTER, dead)
    if marked:
        count = len(marked)
        log.warning("%d answer(s) left streaming by a stopped process marked interrupted", count)
    await ledger.release_of(factory, dead)
    await processes.forget(factory, dead)
    await ledger.release_expired(factory)
    await _show_bills(factory, marked)
