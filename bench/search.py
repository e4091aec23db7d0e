"""Search latency against the number of chats: GET /api/search and the chat list, full-text indexed.

One user's chats grow 100 -> 1,000 -> 10,000 (20 messages each, about 40 words a message drawn
from a Zipf-distributed vocabulary), seeded with bulk SQL inserts into the migrated database of a
running `switchboard serve` (one worker, loopback). At each size it measures, one request at a
time: `/api/search?q=` over everything, `/api/chats?q=` (the chat list's search) and `/api/chats`
without q; queries mix rare, middling and common words, two-word queries and prefixes. Prints p50
and p95 latency and the server's CPU ms per request, with the date and load average, on SQLite and
(with --postgres URL, or SWITCHBOARD_TEST_POSTGRES_URL set) on PostgreSQL.

    .venv/bin/python bench/search.py [--sizes 100 1000 10000] [--requests 150]
        [--databases sqlite postgresql] [--postgres URL] [--explain] [--writes] [--per-word]

`--explain` prints, at each size on PostgreSQL, the buffers and time of the chat list's `?q=`
first page counted in one pass (the route's query) and of the count alone, for the commonest word
and a middling one; `--writes` the database CPU of saving a message and appending to it (an
answer's checkpoint) with the chat words triggers off, then on (since assistant_0023 they keep
each chat's word starts and the per-user counts too).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from sqlalchemy import ClauseElement, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `bench.load` is found from the repository root

from api.migrate import upgrade_database  # noqa: E402
from assistant.models import Chat, Message  # noqa: E402
from bench.gateway import free_port, token_for, wait_http  # noqa: E402
from bench.load import Result, Units, cpu_seconds, measured  # noqa: E402
from core.clock import now  # noqa: E402
from core.database import async_url  # noqa: E402
from core.ids import new_id  # noqa: E402

MESSAGES_PER_CHAT = 20
WORDS_PER_MESSAGE = 40
VOCABULARY = 5000
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pe", "da", "gu", "zo", "ber", "ran"]


def vocabulary(rng: random.Random) -> list[str]:
    made: set[str] = set()
    while len(made) < VOCABULARY:
        made.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    words = sorted(made)
    rng.shuffle(words)
    return words


def queries(words: list[str]) -> list[str]:
    """What people search for: middling and rare words, pairs and prefixes (rank 0 is the most
    common word; rank 30 is in about 1 message in 9, rank 4,000 in about 1 in 900)."""
    single = [words[rank] for rank in (30, 300, 1500, 4000)]
    pairs = [f"{words[50]} {words[2500]}", f"{words[200]} {words[1000]}"]
    prefixes = [words[100][:4], words[1000][:5]]
    return single + pairs + prefixes


async def seed(
    url: str, user_id: str, start: int, end: int, rng: random.Random, words: list[str]
) -> None:
    """Chats start..end of the user, 20 messages each, by bulk inserts, a transaction for each
    50 chats (as a month of use would be, not one transaction: PostgreSQL's per-user counts of
    assistant_0023 would be updated thousands of times in one transaction, each update walking
    the versions before it)."""
    weights = [1 / (rank + 1) for rank in range(len(words))]
    engine = create_async_engine(async_url(url))
    batch = 50
    for first in range(start, end, batch):
        async with engine.begin() as connection:
            chats, messages = [], []
            for _ in range(first, min(end, first + batch)):
                chat_id, stamp = new_id(), now()
                title = " ".join(rng.choices(words, weights, k=4))
                chats.append(
                    {
                        "id": chat_id,
                        "user_id": user_id,
                        "title": title,
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                )
                for i in range(MESSAGES_PER_CHAT):
                    text = " ".join(rng.choices(words, weights, k=WORDS_PER_MESSAGE))
                    role = "user" if i % 2 == 0 else "assistant"
                    messages.append(
                        {
                            "id": new_id(),
                            "chat_id": chat_id,
                            "role": role,
                            "content": text,
                            "created_at": stamp,
                            "updated_at": stamp,
                        }
                    )
            await connection.execute(insert(Chat), chats)
            await connection.execute(insert(Message), messages)
    await engine.dispose()


async def settle(url: str) -> None:
    """What autovacuum does to a table after a bulk insert, done now: the bench's 200,000 rows
    arrive in seconds, not over months, and until vacuumed their GIN entries sit in the index's
    pending list, which every search reads through (`--no-settle` measures that state). The
    seeded messages' word starts (pending since assistant_0026) are merged first, as the server's
    background drain does (`assistant.chat.search.drain_forever`), a few hundred chats a
    transaction."""
    from assistant.chat.search import DRAIN_CHATS, drain

    engine = create_async_engine(async_url(url), isolation_level="AUTOCOMMIT")
    while await drain(engine, user_id=None, most=DRAIN_CHATS) == DRAIN_CHATS:
        pass
    await drain(engine, user_id=None)  # what that skipped (the server's drain had the user)
    async with engine.connect() as connection:
        await connection.exec_driver_sql(
            "VACUUM (ANALYZE) assistant_message, assistant_chat, assistant_chat_words, "
            "assistant_chat_prefixes, assistant_chat_prefix_counts, assistant_chat_prefix_pending"
        )
    await engine.dispose()


async def _analyzed(connection: AsyncConnection, query: ClauseElement) -> list[dict[str, Any]]:
    """PostgreSQL's EXPLAIN (ANALYZE, BUFFERS) of `query`, its values written in, as JSON."""
    sql = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    found = await connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
    raw = found.scalar()
    return json.loads(raw) if isinstance(raw, str) else list(raw or [])


async def explain(url: str, user_id: str, word: str) -> str:
    """PostgreSQL: how the chat list's `?q=` runs for a word: the first page counted in the same
    pass (the route's own query since core.listing counts a searched page with a window count)
    and, for comparison, the count alone (what the route ran before it, as well as the page):
    execution time and the shared buffers touched (a figure load does not move)."""
    from assistant.chat.search import ChatFilter, chats_query

    stmt = chats_query(user_id, ChatFilter(), word, "postgresql")
    page = stmt.order_by(Chat.updated_at.desc()).limit(50).add_columns(func.count().over())
    count = select(func.count()).select_from(stmt.order_by(None).subquery())
    shown = []
    engine = create_async_engine(async_url(url))
    async with engine.connect() as connection:
        for name, query in (("page and count", page), ("count alone", count)):
            plan = await _analyzed(connection, query)
            touched = plan[0]["Plan"]["Shared Hit Blocks"] + plan[0]["Plan"]["Shared Read Blocks"]
            messages = "assistant_message" in json.dumps(plan)
            shown.append(
                f"{name}: {touched:,} buffers, {plan[0]['Execution Time']:.1f} ms, "
                f"reads messages: {messages}"
            )
    await engine.dispose()
    return "; ".join(shown)


async def explain_search(url: str, user_id: str, word: str) -> str:
    """PostgreSQL: each kind of `/api/search`'s statement for a word (20 hits), as the route runs
    it: execution ms and shared buffers touched; for messages, which way the counts chose (a walk
    of the chat list or a read of the matches: assistant/message_candidates.py)."""
    from assistant import message_candidates, search_everywhere
    from core import fulltext
    from core.models import User

    terms = fulltext.parse(word)
    assert terms is not None
    shown = []
    engine = create_async_engine(async_url(url))
    async with engine.connect() as connection:
        user = (await connection.execute(select(User).where(User.id == user_id))).one()
        searcher = search_everywhere.Searcher(user=User(**user._asdict()), team_ids=())
        walk = await message_candidates.walk(
            connection, user_id, terms, fulltext.CANDIDATES["postgresql"]
        )
        for kind in search_everywhere.HIT_TYPES:
            query = search_everywhere.statement(kind, searcher, "postgresql", terms, 20, walk=walk)
            plan = await _analyzed(connection, query)
            top = plan[0]["Plan"]
            touched = top["Shared Hit Blocks"] + top["Shared Read Blocks"]
            how = ("walk" if walk else "read") if kind == "message" else ""
            shown.append(f"{kind} {how} {plan[0]['Execution Time']:.2f} ms / {touched:,} buffers")
    await engine.dispose()
    return "; ".join(shown)


async def explain_all(url: str, user_id: str, words: list[str]) -> None:
    """`--explain`: the chat list's plans for the commonest word and a middling one, and
    `/api/search`'s for those, a rarer one and a prefix."""
    for word in (words[0], words[30]):
        print(f"  EXPLAIN chat list ?q={word}: {await explain(url, user_id, word)}")
    for word in (words[0], words[30], words[300], words[1000][:5]):
        print(f"  EXPLAIN /api/search?q={word}: {await explain_search(url, user_id, word)}")


async def per_word(url: str, user_id: str, asked: list[str], rounds: int = 30) -> str:
    """PostgreSQL: the backend's CPU ms per `/api/search` (every kind, `search_everywhere.search`
    as the route calls it) for each word of the mix and the commonest, `rounds` searches each
    after one of every word to warm up, on one connection, in-process: CPU time, which load
    barely moves."""
    from assistant import search_everywhere
    from core import fulltext
    from core.models import User

    engine = create_async_engine(async_url(url), pool_size=1, max_overflow=0)
    searcher = search_everywhere.Searcher(user=User(id=user_id), team_ids=())
    async with engine.connect() as connection:
        backend = int(await connection.scalar(text("SELECT pg_backend_pid()")) or 0)

    async def search(word: str) -> None:
        async with AsyncSession(engine) as session:
            terms = fulltext.parse(word)
            await search_everywhere.search(session, searcher=searcher, text=word, terms=terms)

    for word in asked:
        await search(word)
    costs = {}
    for word in asked:
        cpu = cpu_seconds(backend)
        for _ in range(rounds):
            await search(word)
        costs[word] = (cpu_seconds(backend) - cpu) * 1000 / rounds
    await engine.dispose()
    mix = sum(costs[word] for word in asked[:-1]) / (len(asked) - 1)
    shown = ", ".join(f"{word} {ms:.2f}" for word, ms in costs.items())
    return f"/api/search DB CPU ms a search, by word: {shown}; the mix's mean {mix:.2f}"


async def message_writes(
    url: str, user_id: str, words: list[str], rng: random.Random, *, chat_words: bool
) -> tuple[float, float, float]:
    """The CPU ms of PostgreSQL's backend and the wall ms to save a message into an existing chat
    and append to it once (as an answer's checkpoint does), each its own transaction, 100 times
    after one to warm up, then the CPU ms a save + append of merging their pending word starts
    (assistant_0026: the background drain's work, off the write path);
    with `chat_words` False the assistant_chat_words triggers are off (saving as before them)."""
    verb = "ENABLE" if chat_words else "DISABLE"
    switch = [
        f"ALTER TABLE assistant_message {verb} TRIGGER assistant_chat_words_{trigger}"
        for trigger in ("insert", "update", "delete")
    ]
    weights = [1 / (rank + 1) for rank in range(len(words))]
    engine = create_async_engine(async_url(url))
    async with engine.connect() as connection:
        backend = int(await connection.scalar(text("SELECT pg_backend_pid()")) or 0)
        for statement in switch:
            await connection.exec_driver_sql(statement)
        mine = select(Chat.id).where(Chat.user_id == user_id).limit(101)
        chats = (await connection.scalars(mine)).all()
        await connection.commit()
        cpu, started = 0.0, 0.0
        for n, chat_id in enumerate(chats):
            if n == 1:  # the first one warms up (the triggers' functions are compiled once)
                cpu, started = cpu_seconds(backend), time.perf_counter()
            message_id, stamp = new_id(), now()
            said = " ".join(rng.choices(words, weights, k=WORDS_PER_MESSAGE))
            row = {"id": message_id, "chat_id": chat_id, "role": "assistant", "content": said}
            await connection.execute(
                insert(Message).values(created_at=stamp, updated_at=stamp, **row)
            )
            await connection.commit()
            more = " " + " ".join(rng.choices(words, weights, k=WORDS_PER_MESSAGE // 4))
            appended = Message.content + more
            await connection.execute(
                update(Message).where(Message.id == message_id).values(content=appended)
            )
            await connection.commit()
        wall = (time.perf_counter() - started) * 1000 / (len(chats) - 1)
        db_cpu = (cpu_seconds(backend) - cpu) * 1000 / (len(chats) - 1)
        cpu = cpu_seconds(backend)
        # the user's, as the list drains (waits for the server's drain rather than skip them)
        draining = text("SELECT assistant_chat_prefixes_drain(:user_id, NULL)")
        await connection.execute(draining, {"user_id": user_id})
        await connection.commit()
        drained = (cpu_seconds(backend) - cpu) * 1000 / len(chats)
        for statement in switch:
            await connection.exec_driver_sql(statement.replace("DISABLE", "ENABLE"))
        await connection.commit()
    await engine.dispose()
    return db_cpu, wall, drained


async def create_database(server: str) -> str:
    from tests.postgres import create_database as create  # the tests' helper: a fresh database

    return await asyncio.to_thread(create, server, migrate=False)


@contextmanager
def serving(cmd: list[str], env: dict[str, str], health: str, log: Path) -> Iterator[int]:
    """The server running (its log in a file: a pipe nobody reads would fill and stall it)."""
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=sink, stderr=sink)
        try:
            wait_http(health)
            yield proc.pid
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def postmaster(url: str) -> int | None:
    """The PostgreSQL server's pid when `.ci/postgres.sh` started it on this machine (its backends
    are its children, so their CPU is counted too); None otherwise."""
    port = make_url(url).port
    for pid_file in Path("/tmp").glob("switchboard-pg.*/postmaster.pid"):
        lines = pid_file.read_text().splitlines()
        if len(lines) > 3 and lines[3].strip() == str(port):
            return int(lines[0])
    return None


def timed(
    url: Callable[[], str], auth: dict[str, str]
) -> Callable[[aiohttp.ClientSession], Awaitable[float]]:
    async def request(client: aiohttp.ClientSession) -> float:
        started = asyncio.get_running_loop().time()
        async with client.get(url(), headers=auth) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{response.status}: {await response.text()}")
        return (asyncio.get_running_loop().time() - started) * 1000

    return request


def _server_env(tmp: Path, db_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "SWITCHBOARD_DATA_DIR": str(tmp / "data"),
        "SWITCHBOARD_DATABASE_URL": db_url,
        "SWITCHBOARD_ADMIN_USERNAME": "bench",
        "SWITCHBOARD_ADMIN_PASSWORD": "bench-password",
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_PORT": str(port),
        "SWITCHBOARD_HOST": "127.0.0.1",
        "SWITCHBOARD_EMBEDDING_BACKEND": "hash",
    }


def _targets(
    base: str, asked: list[str], words: list[str], rng: random.Random
) -> dict[str, Callable[[], str]]:
    """The endpoints measured at one size, each a maker of its next URL."""
    picks = iter(rng.choices(asked, k=100_000))

    def pick(path: str, picks: Iterator[str] = picks) -> Callable[[], str]:
        return lambda: f"{base}{path}".replace("{q}", next(picks))

    common = iter([words[0]] * 100_000)  # in nearly every message: the worst case
    return {
        "search": pick("/api/search?q={q}&limit=20"),
        "chat list q": pick("/api/chats?q={q}"),
        "chat list": lambda: f"{base}/api/chats",
        "search, commonest word": pick("/api/search?q={q}&limit=20", common),
        "chat list q, commonest word": pick("/api/chats?q={q}", common),
    }


async def _measure_size(
    database: str,
    size: int,
    targets: dict[str, Callable[[], str]],
    *,
    auth: dict[str, str],
    server_pid: int,
    db_pid: int | None,
    requests: int,
) -> list[tuple[str, int, Result, float]]:
    """Each target at one size, with PostgreSQL's CPU a request when it runs apart."""
    results: list[tuple[str, int, Result, float]] = []
    for name, url_of in targets.items():
        db_before = cpu_seconds(db_pid) if db_pid else 0.0
        result = await measured(
            f"{database} {name}",
            timed(url_of, auth),
            server_pid,
            size,
            1,
            requests,
            units=Units(request="request", size="chats", latency="p50"),
            seconds=30.0,
        )
        db_cpu = float("nan")
        if db_pid:
            db_cpu = (cpu_seconds(db_pid) - db_before) * 1000 / max(1, len(result.ttft_ms))
        print(f"    p95 {result.pct(0.95):.1f} ms, database CPU {db_cpu:.2f} ms", flush=True)
        results.append((database, size, result, db_cpu))
    return results


async def _postgresql_extras(
    db_url: str,
    user_id: str,
    words: list[str],
    asked: list[str],
    rng: random.Random,
    args: argparse.Namespace,
) -> None:
    """The optional PostgreSQL measures at one size: plans, per-word costs, message writes."""
    if args.explain:
        await explain_all(db_url, user_id, words)
    if args.per_word:
        print(f"  {await per_word(db_url, user_id, [*asked, words[0]])}", flush=True)
    if not args.writes:
        return
    for chat_words in (False, True):
        db_cpu, wall, drained = await message_writes(
            db_url, user_id, words, rng, chat_words=chat_words
        )
        state = "on" if chat_words else "off"
        print(
            f"  save + append a message, chat words triggers {state}: "
            f"database CPU {db_cpu:.2f} ms, wall {wall:.1f} ms; "
            f"their pending starts merged: {drained:.2f} ms a save + append",
            flush=True,
        )


async def run(
    database: str, url: str, args: argparse.Namespace
) -> list[tuple[str, int, Result, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="sb-search-bench-"))
    port = free_port()
    db_url = url or f"sqlite:///{tmp / 'data' / 'switchboard.db'}"
    (tmp / "data").mkdir()
    await asyncio.to_thread(upgrade_database, db_url)
    env = _server_env(tmp, db_url, port)
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(19)
    words = vocabulary(rng)
    asked = queries(words)
    results: list[tuple[str, int, Result, float]] = []
    db_pid = postmaster(url) if url else None
    cmd = [sys.executable, "-m", "api.cli", "serve"]  # this checkout's code
    with serving(cmd, env, f"{base}/api/health", tmp / "server.log") as server_pid:
        token = token_for(base, "bench", "bench-password")
        auth = {"Authorization": f"Bearer {token}"}
        me = httpx.get(f"{base}/api/me", headers=auth)
        assert me.status_code == 200, me.text
        user_id = me.json()["id"]
        seeded = 0
        for size in args.sizes:
            await seed(db_url, user_id, seeded, size, rng, words)
            seeded = size
            if url and args.settle:
                await settle(db_url)
            targets = _targets(base, asked, words, rng)
            results += await _measure_size(
                database,
                size,
                targets,
                auth=auth,
                server_pid=server_pid,
                db_pid=db_pid,
                requests=args.requests,
            )
            if db_pid:
                await _postgresql_extras(db_url, user_id, words, asked, rng, args)
    shutil.rmtree(tmp, ignore_errors=True)
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10_000])
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument(
        "--no-settle", dest="settle", action="store_false", help="no VACUUM after seeding"
    )
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument(
        "--explain",
        action="store_true",
        help="PostgreSQL: the chat list ?q= page's and count's plans (buffers, ms) for two words, "
        "and each kind of /api/search's for four",
    )
    parser.add_argument(
        "--writes",
        action="store_true",
        help="PostgreSQL: database CPU to save and append to a message, chat words triggers "
        "off then on (migration assistant_0020)",
    )
    parser.add_argument(
        "--per-word",
        action="store_true",
        help="PostgreSQL: /api/search's database CPU per search for each word of the mix, "
        "in-process on one connection (30 searches a word)",
    )
    parser.add_argument("--postgres", default=os.environ.get("SWITCHBOARD_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    results = await run("sqlite", "", args) if "sqlite" in args.databases else []
    if args.postgres and "postgresql" in args.databases:
        results += await run("postgresql", await create_database(args.postgres), args)
    print(
        f"\n{started}; 1-minute load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )
    print("(CPU ms: the app process per request; PostgreSQL's server separately, when found)")
    print("| database | endpoint | chats | messages | p50 ms | p95 ms | app CPU ms | DB CPU ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for database, size, r, db_cpu in results:
        endpoint = r.target.removeprefix(database + " ")
        db = "in app" if database == "sqlite" else f"{db_cpu:.2f}"
        print(
            f"| {database} | {endpoint} | {size:,} | {size * MESSAGES_PER_CHAT:,} | "
            f"{r.pct(0.5):.1f} | {r.pct(0.95):.1f} | {r.cpu_ms:.2f} | {db} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
