"""A `/v1` stream keeps its billing hold alive while it runs, as a chat answer does.

A reservation's lease (120 s) ends unless its call renews it (`MeteredCall.renew`, due every
RENEW_SECONDS); the sweeper then releases it as `interrupted`, billed its prompt and the output the
renewals reported. Chat answers renew at their checkpoints. A `/v1` stream that never renews would
be released mid-answer once it outlived the lease (its budget hold gone while it still streams,
then billed its prompt only). Between renewals, the process's `Deliveries` writes what its streams
sent every checkpoint tick (one transaction for all of them), so one whose process is killed is
billed that output; a stream shorter than a tick writes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from assistant.gateway import metering
from billing.models import Reservation
from core import tokens
from core.clock import as_utc
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Harnesses, eventually, served

pytestmark = pytest.mark.anyio
TEXT = "".join(f"word{i} " for i in range(100))
BODY = {"model": "fake", "stream": True, "messages": [{"role": "user", "content": "go"}]}


async def _reservation(harness: AppHarness) -> Reservation:
    async with harness.services.sessions() as session:
        held = await session.scalar(select(Reservation).where(Reservation.source == "v1"))
    assert held is not None
    return held


async def _until_content(lines: AsyncIterator[str]) -> None:
    async for line in lines:
        if '"content"' in line:
            return
    raise AssertionError("the stream ended before its first text")


async def test_a_v1_stream_renews_its_hold_and_reports_what_it_streamed(
    harness: AppHarness, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metering, "RENEW_SECONDS", 0.0)  # due at every read, not every 30 s
    upstream.behave("fake", text=TEXT, chunks=100, delay=0.05)  # ~5 s
    body = {"model": "fake", "stream": True, "messages": [{"role": "user", "content": "go"}]}

    async def reported() -> Reservation:
        async with harness.services.sessions() as session:
            held = await session.scalar(select(Reservation).where(Reservation.source == "v1"))
        assert held is not None and held.state == "open"
        assert held.delivered_tokens > 0  # not yet reported
        return held

    async with served(harness) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        headers = harness.admin.headers
        async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
            lines = r.aiter_lines()
            async for line in lines:
                if '"content"' in line:
                    break
            held: Reservation = await eventually(reported, seconds=2)
            admitted_until = as_utc(held.created_at) + timedelta(seconds=held.lease_seconds)
            assert as_utc(held.lease_expires_at) > admitted_until  # renewed
        # leaving it unread: the client hangs up, the call is cancelled


async def test_a_v1_stream_reports_what_it_sent_within_two_seconds_without_renewing(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await make_harness(checkpoint_seconds=1.0)  # the default tick, not the tests' 0.2 s
    upstream.behave("fake", text=TEXT, chunks=100, delay=0.05)  # ~5 s

    async def reported() -> Reservation:
        held = await _reservation(harness)
        assert held.state == "open" and held.delivered_tokens > 0  # not yet reported
        return held

    async with served(harness) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        headers = harness.admin.headers
        async with client.stream("POST", "/v1/chat/completions", json=BODY, headers=headers) as r:
            lines = r.aiter_lines()  # kept: a dropped iterator, once collected, closes the stream
            await _until_content(lines)
            held: Reservation = await eventually(reported, seconds=2.5)
            assert held.delivered_tokens < tokens.count_text(TEXT, "fake")  # sent so far only
            admitted_until = as_utc(held.created_at) + timedelta(seconds=held.lease_seconds)
            assert as_utc(held.lease_expires_at) == admitted_until  # no renewal: not due for 30 s


async def test_a_v1_stream_shorter_than_a_tick_writes_no_report(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await make_harness(checkpoint_seconds=1.0)
    upstream.behave("fake", text=TEXT, chunks=10, delay=0.05)  # ~0.5 s, a tick is 1 s
    deliveries = harness.services.metering.deliveries
    async with served(harness) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        headers = harness.admin.headers
        async with client.stream("POST", "/v1/chat/completions", json=BODY, headers=headers) as r:
            lines = r.aiter_lines()
            await _until_content(lines)
            assert await deliveries.report() == 0  # a tick now: the stream is younger than one
            async for _ in lines:
                pass
    held = await _reservation(harness)
    assert held.state == "completed" and held.delivered_tokens == 0
