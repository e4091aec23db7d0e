"""PostgreSQL's CPU for the statements of one `/v1` stream, alone: the identity epoch read, the
admission (`billing.one_trip.RESERVE`) and the settlement (`SETTLE`), by billing schema.

bench/scaling.py measures PostgreSQL's CPU a stream under the whole load, where the load
generator, the upstream and the server share the two cores and other sessions load the machine:
a change of ~0.05 ms a stream is lost in that noise. This sends only the database's part of a
stream, as the server sends it (the same SQL, prepared once per connection, outside a
transaction), from one connection with `--in-flight` reservations open at any time (the bench's
768 streams at once), and reads the backend's CPU from /proc and the WAL written: figures that
loading the machine hardly moves. For each schema (`--revisions`: the billing branch's revision,
`heads` for the newest) a fresh database is migrated to it.

    .venv/bin/python bench/scaling_db.py [--database-url postgresql://...] [--streams 20000]
        [--in-flight 768] [--revisions billing_0002 heads] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from alembic import command

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.migrate import alembic_config  # noqa: E402
from bench.load import postgres_server  # noqa: E402
from bench.scaling import plain  # noqa: E402
from bench.scaling_cpu import TICK, _stat  # noqa: E402
from billing import one_trip  # noqa: E402
from core.ids import new_id  # noqa: E402

EPOCH = "SELECT epoch FROM core_auth_epoch WHERE id = $1"  # as core.auth_epoch sends it


def _reservation(user: str, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "user_id": user,
        "team_id": None,
        "api_token_id": user,
        "assistant_id": None,
        "model": "chunks-20",
        "source": "api",
        "input_price": 1e-6,
        "output_price": 2e-6,
        "prompt_tokens": 10,
        "max_output_tokens": 4096,
        "reserved_micros": 8202,
        "reserved_tokens": 4106,
        "counter_ids": [],
        "delivered_tokens": 0,
        "lease_seconds": 600,
        "lease_expires_at": now + timedelta(seconds=600),
        "state": "open",
        "created_at": now,
        "settled_at": None,
        "process_id": user,
    }


def _entry(reservation: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "reservation_id": reservation["id"],
        "outcome": "completed",
        "model": reservation["model"],
        "user_id": reservation["user_id"],
        "team_id": None,
        "api_token_id": reservation["api_token_id"],
        "assistant_id": None,
        "source": "api",
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "cost_micros": 50,
        "reserved_micros": 8202,
        "estimated": False,
        "admitted_at": reservation["created_at"],
        "created_at": now,
    }


def _cpu(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK


async def one(url: str, streams: int, in_flight: int) -> dict[str, float]:
    """`streams` streams' statements on one connection, `in_flight` reservations open."""
    connection = await asyncpg.connect(url)
    try:
        pid = int(await connection.fetchval("SELECT pg_backend_pid()"))
        user = new_id()
        reserve_args = len(one_trip._RESERVATION_COLUMNS)
        open_ = deque[dict[str, Any]]()

        async def admit() -> None:
            epoch = int(await connection.fetchval(EPOCH, 1))
            values = _reservation(user, datetime.now(UTC))
            args = one_trip._reservation(values)
            assert len(args) == reserve_args
            assert await connection.fetchval(one_trip.RESERVE, *args, epoch) is not None
            open_.append(values)

        async def settle() -> None:
            values = open_.popleft()
            entry = _entry(values, datetime.now(UTC))
            head = [values["id"], "completed", entry["created_at"], 20]
            tail = [entry[name] for name in one_trip._ENTRY_COLUMNS]
            assert await connection.fetchval(one_trip.SETTLE, *head, *tail) is not None

        for _ in range(in_flight):
            await admit()
        for _ in range(200):  # warm: the statements prepared, their generic plans chosen
            await admit()
            await settle()
        lsn0 = await connection.fetchval("SELECT pg_current_wal_lsn()")
        cpu0, t0 = _cpu(pid), time.perf_counter()
        for _ in range(streams):
            await admit()
            await settle()
        cpu1, t1 = _cpu(pid), time.perf_counter()
        wal = await connection.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", lsn0)
        # The plan a prepared statement settles with once it is generic, as the server's are.
        await connection.execute("SET plan_cache_mode = force_generic_plan")
        probe = await connection.prepare(
            "EXPLAIN (COSTS off) UPDATE billing_reservation SET state = 'x' "
            "WHERE id = $1::VARCHAR AND state = 'open'"
        )
        plan = await probe.fetch("none")
    finally:
        await connection.close()
    return {
        "cpu_us": (cpu1 - cpu0) * 1e6 / streams,
        "wall_us": (t1 - t0) * 1e6 / streams,
        "wal_bytes": float(wal) / streams,
        "plan": " ".join(r[0].strip() for r in plan[1:2]),
    }


async def bench(args: argparse.Namespace, server: str) -> None:
    for round_ in range(args.rounds):
        for revision in args.revisions:
            name = "sb_db_" + secrets.token_hex(4)
            admin = await asyncpg.connect(plain(server))
            await admin.execute(f'CREATE DATABASE "{name}"')
            await admin.close()
            url = plain(server, name)
            config = alembic_config(url)
            await asyncio.to_thread(command.upgrade, config, "heads")
            if revision != "heads":
                await asyncio.to_thread(command.downgrade, config, revision)
            got = await one(url, args.streams, args.in_flight)
            print(
                f"  round {round_ + 1}, {revision}: PostgreSQL backend {got['cpu_us']:.0f} us CPU"
                f" a stream ({got['wall_us']:.0f} us wall), {got['wal_bytes']:.0f} B WAL;"
                f" a settle's reservation update: {got['plan']}",
                flush=True,
            )
            admin = await asyncpg.connect(plain(server))
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL server (a database is made per run)")
    parser.add_argument("--streams", type=int, default=20000)
    parser.add_argument("--in-flight", type=int, default=768)
    parser.add_argument("--revisions", nargs="+", default=["billing_0002", "heads"])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"bench/scaling_db.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    with postgres_server(args.database_url) as server:
        asyncio.run(bench(args, server))


if __name__ == "__main__":
    main()
