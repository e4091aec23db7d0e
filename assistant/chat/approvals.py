"""Tool approvals kept in the database: asked for by the answer's worker, decided from any.

The worker generating an answer records each call that needs approval as `pending` and waits. A
decision posted to any worker turns the row `approved` or `refused` in one conditional UPDATE (only
a pending call of an answer still streaming), and wakes the run at once when it is in the same
process; a generating worker elsewhere sees the row within `poll_seconds`. A call nobody decides in
time becomes `expired`, which counts as a refusal.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.chat.runs import Run
from assistant.models import Message, ToolApproval
from assistant.schemas import MessageStatus
from core import clock
from core.database import write_transaction

POLL_SECONDS = 0.5
DECIDED = {"approved": True, "refused": False, "expired": False}


async def request(
    factory: async_sessionmaker[AsyncSession], *, run: Run, call_id: str, name: str
) -> None:
    """Record that an answer waits on the user's decision about a call (again, if the model
    reused a call id in a later step)."""
    run.approvals.pop(call_id, None)
    async with write_transaction(factory) as session:
        await session.execute(
            delete(ToolApproval).where(
                ToolApproval.message_id == run.message_id, ToolApproval.call_id == call_id
            )
        )
        session.add(
            ToolApproval(
                message_id=run.message_id, chat_id=run.chat_id, call_id=call_id, name=name[:200]
            )
        )


async def decide(session: AsyncSession, *, chat_id: str, call_id: str, approve: bool) -> bool:
    """Decide a pending call of one of the chat's answers still being written; False if none."""
    streaming = select(Message.id).where(
        Message.chat_id == chat_id, Message.status == MessageStatus.STREAMING
    )
    result = await session.execute(
        update(ToolApproval)
        .where(
            ToolApproval.chat_id == chat_id,
            ToolApproval.call_id == call_id,
            ToolApproval.state == "pending",
            ToolApproval.message_id.in_(streaming),
        )
        .values(state="approved" if approve else "refused", decided_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def wait(
    factory: async_sessionmaker[AsyncSession],
    *,
    run: Run,
    call_id: str,
    timeout: float,
    poll_seconds: float = POLL_SECONDS,
) -> bool:
    """The user's decision on a call: woken by this process, or read from the database."""
    woken = run.approvals.setdefault(call_id, asyncio.get_running_loop().create_future())
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            return await asyncio.wait_for(asyncio.shield(woken), min(poll_seconds, remaining))
        except TimeoutError:
            pass
        decided = await _decision(factory, run.message_id, call_id)
        if decided is not None:
            return decided
    return await _expire(factory, run.message_id, call_id)


async def end(factory: async_sessionmaker[AsyncSession], *, message_id: str) -> None:
    """Expire whatever an answer that has ended still waited on."""
    async with write_transaction(factory) as session:
        await session.execute(
            update(ToolApproval)
            .where(ToolApproval.message_id == message_id, ToolApproval.state == "pending")
            .values(state="expired", decided_at=clock.now())
            .execution_options(synchronize_session=False)
        )


async def _decision(
    factory: async_sessionmaker[AsyncSession], message_id: str, call_id: str
) -> bool | None:
    async with factory() as session:
        state = await session.scalar(
            select(ToolApproval.state).where(
                ToolApproval.message_id == message_id, ToolApproval.call_id == call_id
            )
        )
    return DECIDED.get(state or "pending")


async def _expire(factory: async_sessionmaker[AsyncSession], message_id: str, call_id: str) -> bool:
    """Give up waiting; a decision that landed just before still counts."""
    async with write_transaction(factory) as session:
        await session.execute(
            update(ToolApproval)
            .where(
                ToolApproval.message_id == message_id,
                ToolApproval.call_id == call_id,
                ToolApproval.state == "pending",
            )
            .values(state="expired", decided_at=clock.now())
            .execution_options(synchronize_session=False)
        )
    return bool(await _decision(factory, message_id, call_id))
