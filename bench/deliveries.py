"""The CPU of what `/v1` streams report between renewals (`assistant.gateway.delivery`), in-process.

bench/streams.py's open phase (1,000 streams of 30 s) moves by more than this costs on a shared
machine, so this measures the reporter alone, from `time.process_time` (load barely moves it):
  short — a stream that ends within a tick: `Deliveries.open`, a `sent` store per batch (20),
          `close`; CPU µs a stream (nothing else is added to such a stream);
  long  — `--streams` (1,000) open streams whose text grows by bench/upstream.py's 20-chunk
          answer over `--seconds` (30), as bench/streams.py's slow upstream sends it, on a SQLite
          file with their open reservations: each tick's CPU ms (counting and the one write),
          and the total against the run.

    .venv/bin/python bench/deliveries.py [--streams 1000] [--seconds 30] [--tick 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.gateway.delivery import Deliveries  # noqa: E402
from billing.models import Reservation  # noqa: E402
from core import database, tokens  # noqa: E402

TEXT = "lorem ipsum dolor sit amet " * 40  # bench/upstream.py's answer
CHUNKS = 20
PIECES = [TEXT[i * (len(TEXT) // CHUNKS) : (i + 1) * (len(TEXT) // CHUNKS)] for i in range(CHUNKS)]
MODEL = "chunks-20"


def _row(reservation_id: str, now: datetime.datetime) -> dict[str, Any]:
    return {
        "id": reservation_id,
        "user_id": "u",
        "team_id": "t",
        "model": MODEL,
        "source": "v1",
        "prompt_tokens": 10,
        "max_output_tokens": 1000,
        "reserved_micros": 0,
        "reserved_tokens": 1010,
        "counter_ids": [],
        "delivered_tokens": 0,
        "lease_seconds": 120,
        "lease_expires_at": now,
        "state": "open",
        "created_at": now,
    }


async def short(deliveries: Deliveries, rounds: int) -> float:
    """CPU µs of a short stream's bookkeeping: open, 20 batches' `sent`, close."""
    started = time.process_time()
    for _ in range(rounds):
        pieces: list[str] = []
        delivery = deliveries.open("r", MODEL, pieces)
        for piece in PIECES:
            pieces.append(piece)
            delivery.sent = len(pieces)
        deliveries.close(delivery)
    return (time.process_time() - started) * 1e6 / rounds


async def long(deliveries: Deliveries, streams: int, seconds: float) -> None:
    """Open streams growing a chunk every seconds/20, reported by the reporter's own ticks;
    prints the CPU of its reports (`time.process_time`: its counting thread included)."""
    texts: list[list[str]] = [[] for _ in range(streams)]
    opened = [deliveries.open(f"r{i:05d}", MODEL, texts[i]) for i in range(streams)]
    ticks: list[float] = []
    written = 0
    report = deliveries.report

    async def timed() -> int:
        nonlocal written
        cpu = time.process_time()
        written += await report()
        ticks.append((time.process_time() - cpu) * 1000)
        return written

    deliveries.report = timed  # type: ignore[method-assign]
    every = seconds / CHUNKS
    start = time.monotonic()
    while (now := time.monotonic() - start) < seconds:
        for index, delivery in enumerate(opened):  # staggered, as streams opened one by one
            due = min(CHUNKS, int((now + index * every / streams) / every) + 1)
            while len(texts[index]) < due:
                texts[index].append(PIECES[len(texts[index])])
            delivery.sent = len(texts[index])
        await asyncio.sleep(0.05)
    for delivery in opened:
        deliveries.close(delivery)
    await deliveries.stop()
    ticks.sort()
    print(
        f"long: {streams} streams over {seconds:.0f} s, {len(ticks)} ticks, {written} reports: "
        f"CPU ms a tick median {ticks[len(ticks) // 2]:.1f}, max {ticks[-1]:.1f}; "
        f"{sum(ticks) / 1000:.2f} CPU s in all ({sum(ticks) / streams:.2f} ms a stream)"
    )


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="sb-deliveries-"))
    engine = database.create_engine(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
    table = cast(Table, Reservation.__table__)
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: table.create(sync))
        now = datetime.datetime.now(datetime.UTC)
        rows = [_row(f"r{i:05d}", now) for i in range(args.streams)]
        await connection.execute(insert(table), rows)
    tokens.count_text("warm", MODEL)
    deliveries = Deliveries(database.sessionmaker(engine), seconds=args.tick)
    await short(deliveries, 1000)  # warm
    print(f"short: {await short(deliveries, 20_000):.2f} CPU µs a stream")
    await deliveries.stop()
    await long(deliveries, args.streams, args.seconds)
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--tick", type=float, default=1.0)
    asyncio.run(main(parser.parse_args()))
