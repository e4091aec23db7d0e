"""What this process's open `/v1` streams have delivered, told to billing every tick in one write.

A `/v1` stream renews its lease only every RENEW_SECONDS (30 s); a process killed before its
stream's first renewal would leave the stream billed its prompt only, though its client had read
output. So each stream keeps, in memory, its text and how much of it the client has been sent, and
the process's one `Deliveries` (held by `Metering`) writes, every tick, the completion tokens of
every stream open a tick or longer whose sent text grew since: one transaction for all of them
(`billing.admission.record_delivered`), however many streams are open. A stream shorter than a
tick is never written; the loop runs only while streams are open. Chat answers report theirs
with their checkpoints, not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import admission
from core import tokens

log = logging.getLogger(__name__)
# A timer may wake a hair early: a stream open a tick less this is due at that tick.
EARLY = 0.01


class Delivery:
    """One open stream: its text as pieces (the stream appends them) and how many of those its
    client has been sent (`sent`, which the stream raises after each batch it handed on)."""

    __slots__ = ("counted", "model", "opened_at", "pieces", "reported", "reservation_id", "sent")

    def __init__(self, reservation_id: str, model: str, pieces: list[str]) -> None:
        self.reservation_id = reservation_id
        self.model = model
        self.pieces = pieces
        self.sent = 0
        self.reported = 0  # `sent` as last written
        self.opened_at = time.monotonic()
        self.counted: tokens.RunningCount | None = None  # made at its first report


class Deliveries:
    """The open streams of this process, their delivered tokens written every `seconds`."""

    def __init__(self, factory: async_sessionmaker[AsyncSession], *, seconds: float) -> None:
        self.factory = factory
        self.seconds = seconds
        self._open: set[Delivery] = set()
        self._loop: asyncio.Task[None] | None = None

    def open(self, reservation_id: str, model: str, pieces: list[str]) -> Delivery:
        """Follow a stream from now until `close`; starts the tick loop if it is not running."""
        delivery = Delivery(reservation_id, model, pieces)
        self._open.add(delivery)
        if self._loop is None or self._loop.done():
            self._loop = asyncio.get_running_loop().create_task(
                self._run(), name="delivery reports"
            )
        return delivery

    def close(self, delivery: Delivery) -> None:
        """Stop following a stream (it is settled next: settlement bills what it used)."""
        self._open.discard(delivery)

    async def report(self) -> int:
        """Write, in one transaction, the delivered tokens of the streams due: open a tick or
        longer, their sent text grown since the last write. Returns how many were written."""
        now = time.monotonic()
        due = [
            (d, d.sent)
            for d in self._open
            if d.sent > d.reported and now - d.opened_at >= self.seconds - EARLY
        ]
        if not due:
            return 0
        # Counted in a thread: a thousand streams' texts are many milliseconds of encoding.
        counts = await asyncio.to_thread(_count, due)
        await admission.record_delivered(
            self.factory,
            delivered={d.reservation_id: n for (d, _), n in zip(due, counts, strict=True)},
        )
        for delivery, sent in due:
            delivery.reported = sent
        return len(due)

    async def stop(self) -> None:
        """Stop the tick loop (at shutdown); streams still open are settled by their own ends."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None

    async def _run(self) -> None:
        while self._open:
            await asyncio.sleep(self.seconds)
            try:
                await self.report()
            except Exception:  # the next tick (or the lease's renewal) reports it again
                log.warning("could not record what open streams delivered", exc_info=True)


def _count(due: list[tuple[Delivery, int]]) -> list[int]:
    """Each stream's tokens sent so far: its first `sent` pieces counted as one text, as
    settlement counts it (pieces counted apart could add up to more), each time encoding only
    what was added (`tokens.RunningCount`). Runs in a worker thread: the stream only appends to
    its list, and a slice is taken whole under the GIL."""
    counts = []
    for delivery, sent in due:
        if delivery.counted is None:
            delivery.counted = tokens.RunningCount(delivery.model)
        counts.append(delivery.counted.count("".join(delivery.pieces[:sent])))
    return counts
