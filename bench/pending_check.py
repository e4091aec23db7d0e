"""'Is anything of this user's pending?' against everyone's pending rows, on PostgreSQL.

The chat list's `?q=` asks it before it reads the kept counts (`assistant.chat.search._COUNTED`;
migration assistant_0026 keeps a message's word starts pending until drained). As assistant_0026
asked it, every pending row's chat was looked up for its owner; since assistant_0027 the rows
carry the owner, and it is one probe of their index. 10 users with 100 chats each; the other 9
users' pending rows grow (`--pending`); for the measured user, with nothing pending (the common
case: the background drain keeps up) and with one row pending, it prints EXPLAIN (ANALYZE,
BUFFERS) of both forms: execution ms and shared buffers (hits + reads: a figure the machine's
load does not move). Seeded with bulk SQL into a fresh migrated database; no server.

`--writes N` then prints, N rounds, the database CPU of a save + append (`bench/search.py`'s
`message_writes`, into 100 of the user's chats) with assistant_0026's trigger functions and with
assistant_0027's, swapped in turn on the same database: what the owner's lookup, the owner index
and the lock order add to the write path, paired so that the machine's load weighs on both.

    .venv/bin/python bench/pending_check.py --postgres "$URL" [--pending 0 1000 10000 100000]
        [--writes 4]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.util
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.search import message_writes, vocabulary  # noqa: E402
from core.database import async_url  # noqa: E402

USERS, CHATS = 10, 100
PENDING = "assistant_chat_prefix_pending"
FORMS = {
    "assistant_0026 (owner looked up per row)": f"SELECT EXISTS (SELECT 1 FROM {PENDING} q WHERE "
    "(SELECT c.user_id FROM assistant_chat c WHERE c.id = q.chat_id) = '{user}')",
    "assistant_0027 (owner index)": f"SELECT EXISTS (SELECT 1 FROM {PENDING} q "
    "WHERE q.user_id = '{user}')",
}
SEED_USERS = """INSERT INTO core_user
(id, username, display_name, password_hash, role, active, created_at, updated_at)
SELECT 'user' || u, 'user' || u, 'user' || u, 'x', 'user', true, now(), now()
FROM generate_series(0, :users - 1) u"""
SEED_CHATS = """INSERT INTO assistant_chat (id, user_id, title, created_at, updated_at)
SELECT 'chat' || u || '-' || c, 'user' || u, 'chat ' || c, now(), now()
FROM generate_series(0, :users - 1) u, generate_series(0, :chats - 1) c"""
# Other users' pending rows (users 1..9), spread over their chats, as a save leaves them.
SEED_PENDING = f"""INSERT INTO {PENDING} (chat_id, user_id, words)
SELECT 'chat' || (1 + n % (:users - 1)) || '-' || (n / (:users - 1)) % :chats,
       'user' || (1 + n % (:users - 1)), 'kalo:1 mizo:2 rutavo:3'::tsvector
FROM generate_series(:start, :end - 1) n"""


def _figures(plan: dict[str, Any]) -> str:
    top = plan["Plan"]
    buffers = top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
    return f"{plan['Execution Time']:.3f} ms, {buffers} buffers"


async def _explained(connection: AsyncConnection, statement: str) -> str:
    explain = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}"
    for _ in range(3):  # warm: the figures of the last run
        raw = await connection.scalar(text(explain))
    return _figures((json.loads(raw) if isinstance(raw, str) else raw)[0])


def _migration(name: str) -> Any:
    versions = ROOT / "api" / "migrations" / "versions"
    path = next(versions.glob(f"*_{name}_*.py"))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def paired_writes(url: str, rounds: int) -> None:
    """`--writes`: save + append with assistant_0026's trigger functions, then 0027's, in turn."""
    latest = _migration("assistant_0027")
    functions = {
        "assistant_0026": latest.RESTORED,
        "assistant_0027": [
            s for s in latest.POSTGRESQL if s.startswith("CREATE OR REPLACE FUNCTION")
        ],
    }
    engine = create_async_engine(async_url(url))
    rng = random.Random(27)
    words = vocabulary(rng)
    nullable = f"ALTER TABLE {PENDING} ALTER COLUMN user_id DROP NOT NULL"  # 0026 writes none
    async with engine.connect() as connection:
        await connection.exec_driver_sql(nullable)
        await connection.commit()
    for round_ in range(rounds):
        for name, statements in functions.items():
            async with engine.connect() as connection:
                for statement in statements:
                    await connection.exec_driver_sql(statement)
                await connection.commit()
            cpu, wall, drained = await message_writes(url, "user0", words, rng, chat_words=True)
            load = os.getloadavg()[0]
            print(
                f"  round {round_} {name}: save + append database CPU {cpu:.2f} ms, wall "
                f"{wall:.1f} ms; drained {drained:.2f} ms a save + append (load {load:.2f})",
                flush=True,
            )
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("SWITCHBOARD_TEST_POSTGRES_URL", ""))
    parser.add_argument("--pending", type=int, nargs="+", default=[0, 1000, 10_000, 100_000])
    parser.add_argument("--writes", type=int, default=0, help="rounds of paired writes")
    args = parser.parse_args()
    if not args.postgres:
        parser.error("--postgres URL (or SWITCHBOARD_TEST_POSTGRES_URL) is needed")
    from tests.postgres import create_database  # the tests' helper: a fresh migrated database

    url = await asyncio.to_thread(create_database, args.postgres)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, load {load}; {url}")
    engine = create_async_engine(async_url(url))
    sizes = {"users": USERS, "chats": CHATS}
    async with engine.connect() as connection:
        await connection.execute(text(SEED_USERS), sizes)
        await connection.execute(text(SEED_CHATS), sizes)
        await connection.commit()
        seeded = 0
        for pending in args.pending:
            bounds = {"start": seeded, "end": pending, **sizes}
            await connection.execute(text(SEED_PENDING), bounds)
            await connection.commit()
            seeded = max(seeded, pending)
            await connection.exec_driver_sql(f"ANALYZE {PENDING}")
            await connection.commit()
            for mine in (0, 1):
                if mine:  # one row of the measured user's pending
                    await connection.execute(
                        text(
                            f"INSERT INTO {PENDING} (chat_id, user_id, words) "
                            "VALUES ('chat0-0', 'user0', 'kalo:1')"
                        )
                    )
                for name, form in FORMS.items():
                    figures = await _explained(connection, form.format(user="user0"))
                    rows = f"others' pending rows {pending:>7,}, the user's {mine}"
                    print(f"  {rows}: {name}: {figures}", flush=True)
                if mine:
                    await connection.rollback()
    await engine.dispose()
    if args.writes:
        await paired_writes(url, args.writes)


if __name__ == "__main__":
    asyncio.run(main())
