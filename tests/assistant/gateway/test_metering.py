"""A metered call: admitted once, settled exactly once, however its block is left."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from assistant.errors import ProviderError
from assistant.gateway.chunks import Usage, close_stream
from assistant.gateway.metering import MeteredCall
from assistant.schemas import MessageStatus
from billing import ledger
from billing.admission import Caller
from billing.models import LedgerEntry, Reservation
from core import tokens
from core.database import write_transaction, writes_inline
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, eventually

pytestmark = pytest.mark.anyio
MESSAGES = [{"role": "user", "content": "Say something."}]


async def _entry(harness: AppHarness, reservation_id: str) -> LedgerEntry:
    async with harness.services.sessions() as session:
        entry = await ledger.get_entry(session, reservation_id=reservation_id)
    assert entry is not None, "the call was not settled"
    return entry


def _v1_call(harness: AppHarness) -> MeteredCall:
    """A `/v1` call of the admin's to the fake model, not admitted yet."""
    return harness.services.metering.call(
        Caller(user_id=harness.admin.id, team_ids=()),
        harness.services.catalog.usable("fake"),
        source="v1",
        prompt_tokens=12,
        max_output_tokens=50,
    )


async def test_a_call_left_by_a_cancel_is_settled_once_as_cancelled_with_what_it_read(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="one two three four five six", chunks=6, usage=False)
    model = harness.services.catalog.usable("fake")
    metered = harness.services.metering.call(
        Caller(user_id=harness.admin.id, team_ids=()),
        model,
        source="v1",
        prompt_tokens=12,
        max_output_tokens=50,
    )
    with pytest.raises(asyncio.CancelledError):
        async with metered as call:
            stream = await call.stream(messages=MESSAGES, max_tokens=50)
            async for chunk in stream:
                call.text += chunk.text
                if call.text:
                    break
            await close_stream(stream)
            raise asyncio.CancelledError  # as a client disconnect lands

    entry = await _entry(harness, call.reservation_id)
    assert (entry.outcome, entry.source, entry.estimated) == ("cancelled", "v1", True)
    assert entry.prompt_tokens == 12
    assert entry.completion_tokens == tokens.count_text(call.text, model.name) > 0
    with pytest.raises(RuntimeError):
        await call.settle(MessageStatus.COMPLETE)  # once only
    with pytest.raises(RuntimeError):
        await call.stream(messages=MESSAGES, max_tokens=50)  # no model call after settlement


async def test_a_call_left_by_an_error_is_settled_as_failed(harness: AppHarness) -> None:
    model = harness.services.catalog.usable("fake")
    metered = harness.services.metering.call(
        Caller(user_id=harness.admin.id, team_ids=()),
        model,
        source="title",
        prompt_tokens=9,
        max_output_tokens=5,
    )
    with pytest.raises(ProviderError):
        async with metered as call:
            raise ProviderError("The provider failed.")

    entry = await _entry(harness, call.reservation_id)
    assert (entry.outcome, entry.prompt_tokens, entry.completion_tokens) == ("failed", 0, 0)


async def test_a_call_cancelled_while_waiting_for_admission_leaves_nothing_open(
    harness: AppHarness,
) -> None:
    factory = harness.services.sessions
    call = _v1_call(harness)
    async with write_transaction(factory):  # on a SQLite file: the write lock, held
        admitting = asyncio.create_task(call.admit())
        await asyncio.sleep(0)  # one loop turn: the admission runs up to that lock
        admitting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await admitting

    async with factory() as session:
        rows = list(await session.scalars(select(Reservation)))
    assert [r for r in rows if r.state == "open"] == []
    if writes_inline(factory):  # admitted on the event loop itself: nothing was written
        assert rows == [] and call.reservation_id == ""
    # and the lock went back: the next call is admitted
    again = _v1_call(harness)
    async with again:
        assert again.reservation_id


async def test_a_call_cancelled_while_its_settlement_waits_is_settled_once(
    harness: AppHarness,
) -> None:
    factory = harness.services.sessions
    call = _v1_call(harness)
    await call.admit()
    async with write_transaction(factory):  # on a SQLite file: the write lock, held
        settling = asyncio.create_task(call.settle(MessageStatus.COMPLETE, Usage(12, 5)))
        await asyncio.sleep(0)  # one loop turn: the settlement runs up to that lock
        settling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await settling

    entry = await eventually(lambda: _entry(harness, call.reservation_id))
    assert (entry.outcome, entry.prompt_tokens, entry.completion_tokens) == ("completed", 12, 5)
