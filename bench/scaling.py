"""Scaling on PostgreSQL: /v1 streams/s of `switchboard serve --workers N`, and what serialises it.

One invocation starts a slow upstream (bench/upstream.py, a pause before each chunk) and, for each
worker count in turn (alternating, `--rounds` times, so every ratio comes from one run), a fresh
PostgreSQL database and `switchboard serve --workers N` on it. Each phase drives /v1 streams at
one concurrency for a fixed time and prints:
  streams/s, and the ratio to the first worker count of the same round;
  CPU ms per stream of the server (its processes) and of PostgreSQL (its backends);
  what the database's active backends waited on, sampled every 20 ms (`pg_stat_activity`),
  and the lock waits (`pg_locks` not granted) by kind and table;
  rows inserted / updated / deleted per stream (`pg_stat_user_tables` deltas);
  the server's connections to the database (per worker: its pool).
With `--budgets` a global and a team budget (the Everyone team) apply to every call: the rows
every admission and settlement update. `--chat N` ends with N chat turns on one worker and prints
the rows a turn writes.

    .venv/bin/python bench/scaling.py [--database-url postgresql://...] [--workers 1 2]
        [--concurrency 192] [--seconds 20] [--chunks 20] [--chunk-delay-ms 25] [--budgets]
        [--rounds 2] [--chat 40]

Without --database-url it starts a private cluster with .ci/postgres.sh and stops it after.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gateway import catalog_yaml, free_port, process, token_for  # noqa: E402
from bench.load import cpu_seconds, run_load, stream_once  # noqa: E402

SAMPLE = """SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS waiting,
       left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS query
  FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'"""
LOCKS = """SELECT l.locktype, coalesce(c.relname, '') AS relation, count(*) AS n
  FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
 WHERE NOT l.granted GROUP BY 1, 2"""
TUPLES = """SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"""
CONNECTIONS = """SELECT count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()"""


def plain(url: str, database: str | None = None) -> str:
    base = url.replace("postgresql+asyncpg://", "postgresql://")
    return base if database is None else base.rsplit("/", 1)[0] + "/" + database


async def backend_parent(url: str) -> int:
    """The postmaster's pid (the parent of a backend): its children are the backends."""
    connection = await asyncpg.connect(url)
    try:
        backend = int(await connection.fetchval("SELECT pg_backend_pid()"))
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    finally:
        await connection.close()


def postgres_cpu(postmaster: int) -> float:
    """CPU seconds of every PostgreSQL process so far (live backends and those reaped)."""
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return cpu_seconds(postmaster) + reaped


class Sampler:
    """What the database's backends wait on, sampled until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.waits: collections.Counter[str] = collections.Counter()
        self.queries: collections.Counter[str] = collections.Counter()
        self.locks: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self.locked = 0  # samples in which a backend waited on a lock
        self.connections: list[int] = []

    async def run(self, stop: asyncio.Event) -> None:
        connection = await asyncpg.connect(self.url)
        try:
            while not stop.is_set():
                self.samples += 1
                rows = await connection.fetch(SAMPLE)
                self.locked += any(r["waiting"].startswith("Lock") for r in rows)
                for row in rows:
                    self.waits[row["waiting"]] += 1
                    if row["waiting"].startswith("Lock"):
                        self.queries[row["query"]] += 1
                for row in await connection.fetch(LOCKS):
                    self.locks[f"{row['locktype']} {row['relation']}".strip()] += row["n"]
                self.connections.append(int(await connection.fetchval(CONNECTIONS)))
                await asyncio.sleep(0.02)
        finally:
            await connection.close()


async def tuples(url: str) -> dict[str, tuple[int, int, int]]:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        rows = await connection.fetch(TUPLES)
    finally:
        await connection.close()
    return {r["relname"]: (r["n_tup_ins"], r["n_tup_upd"], r["n_tup_del"]) for r in rows}


async def written(
    url: str, before: dict[str, tuple[int, int, int]], count: int
) -> tuple[str, dict[str, list[float]]]:
    """Rows inserted/updated/deleted per request since `before`, by table (the stats collector
    reports with a delay: waited for)."""
    await asyncio.sleep(1.0)  # backends report their counts at most every second (PG 15+: at idle)
    after = await tuples(url)
    parts, total, tables = [], [0.0, 0.0, 0.0], {}
    for table, now in sorted(after.items()):
        old = before.get(table, (0, 0, 0))
        delta = [n - o for n, o in zip(now, old, strict=True)]
        if any(delta):
            per = tables[table] = [d / count for d in delta]
            total = [t + p for t, p in zip(total, per, strict=True)]
            parts.append(f"{table} +{per[0]:.2f}/~{per[1]:.2f}/-{per[2]:.2f}")
    head = (
        f"rows per request: {total[0]:.2f} inserted, {total[1]:.2f} updated, {total[2]:.2f} deleted"
    )
    return head + "\n    " + "\n    ".join(parts), tables


async def admin_setup(base: str, token: str, budgets: bool) -> None:
    if not budgets:
        return
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        teams = (await client.get("/api/teams")).json()["_embedded"]["teams"]
        everyone = next(t for t in teams if t["name"] == "Everyone")
        for body in (
            {"name": "all", "scope": "global", "limitMicros": 10**12},
            {"name": "team", "scope": "team", "scopeId": everyone["id"], "limitMicros": 10**12},
        ):
            made = await client.post("/api/usage-budgets", json=body)
            assert made.status_code == 201, made.text


async def phase(
    args: argparse.Namespace, workers: int, upstream: str, server: str
) -> dict[str, Any]:
    """One worker count on a fresh database: the load, CPU, waits and rows written."""
    name = "sb_scaling_" + secrets.token_hex(4)
    admin = await asyncpg.connect(plain(server))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = plain(server, name)
    tmp = Path(tempfile.mkdtemp(prefix="sb-scaling-"))
    (tmp / "models.yaml").write_text(catalog_yaml(upstream, [args.chunks]))
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "SWITCHBOARD_DATABASE_URL": url,
        "SWITCHBOARD_DATA_DIR": str(tmp / "data"),
        "SWITCHBOARD_MODELS": str(tmp / "models.yaml"),
        "SWITCHBOARD_ADMIN_USERNAME": "bench",
        "SWITCHBOARD_ADMIN_PASSWORD": "bench-password",
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_PORT": str(port),
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "api.cli", "serve", "--workers", str(workers)]
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"workers": workers}
    with process(cmd, env, f"{base}/api/health") as served:
        token = token_for(base, "bench", "bench-password")
        await admin_setup(base, token, args.budgets)
        auth = {"Authorization": f"Bearer {token}"}
        body = {
            "model": f"chunks-{args.chunks}",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Say something."}],
        }

        async def v1(client: aiohttp.ClientSession) -> float:
            return await stream_once(client, base + "/v1/chat/completions", body, auth)

        await run_load(v1, args.concurrency * 2, args.concurrency, 30)  # warm every worker
        postmaster = await backend_parent(url)
        before = await tuples(url)
        cpu, pg_cpu = cpu_seconds(served.pid), postgres_cpu(postmaster)
        sampler, stop = Sampler(url), asyncio.Event()
        sampling = asyncio.create_task(sampler.run(stop))
        rate, ttfts, errors = await run_load(v1, 10**9, args.concurrency, args.seconds)
        stop.set()
        await sampling
        count = max(1, len(ttfts))
        out |= {
            "rate": rate,
            "count": count,
            "errors": errors,
            "cpu_ms": (cpu_seconds(served.pid) - cpu) * 1000 / count,
            "pg_ms": (postgres_cpu(postmaster) - pg_cpu) * 1000 / count,
            "ttft_p50": sorted(ttfts)[len(ttfts) // 2] if ttfts else float("nan"),
            "sampler": sampler,
            "rows": await written(url, before, count),
            "budgets": 2 if args.budgets else 0,
        }
        if args.chat and workers == args.workers[0]:
            pids = (served.pid, postmaster)
            out["chat_rows"] = await chat_turns(base, auth, url, args, pids)
    admin = await asyncpg.connect(plain(server))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()
    return out


async def chat_turns(
    base: str, auth: dict[str, str], url: str, args: argparse.Namespace, pids: tuple[int, int]
) -> str:
    """Rows a chat turn writes and the CPU it costs: `args.chat` turns, 10 a chat, 4 at a
    time."""
    model = f"chunks-{args.chunks}"
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=60) as setup:
        chats = [
            (await setup.post("/api/chats", json={"model": model})).json()["id"]
            for _ in range(max(1, args.chat // 10))
        ]
    queue: asyncio.Queue[str] = asyncio.Queue()
    for n in range(args.chat):
        queue.put_nowait(chats[n % len(chats)])
    before = await tuples(url)
    cpu, pg_cpu = cpu_seconds(pids[0]), postgres_cpu(pids[1])

    async def turn(client: aiohttp.ClientSession) -> float:
        chat_id = queue.get_nowait()
        turn = {"content": "Say something.", "stream": True}
        return await stream_once(client, f"{base}/api/chats/{chat_id}/messages", turn, auth)

    _, done, _ = await run_load(turn, args.chat, min(4, len(chats)), 120)
    count = max(1, len(done))
    used = (cpu_seconds(pids[0]) - cpu) * 1000 / count
    pg_used = (postgres_cpu(pids[1]) - pg_cpu) * 1000 / count
    text = (await written(url, before, count))[0]
    return f"{used:.2f} ms CPU a turn (+{pg_used:.2f} PostgreSQL); {text}"


def report(results: list[dict[str, Any]], load: tuple[float, float]) -> None:
    first = results[0]["workers"]
    print(
        f"\n{'workers':>7} {'streams/s':>10} {'x first':>8} {'cpu ms':>7} {'pg ms':>6} "
        f"{'ttft p50':>9} {'conns':>6} {'errors':>6}"
    )
    base_rate = None
    for r in results:
        if r["workers"] == first:
            base_rate = r["rate"]
        ratio = r["rate"] / base_rate if base_rate else float("nan")
        conns = max(r["sampler"].connections or [0])
        print(
            f"{r['workers']:>7} {r['rate']:>10.1f} {ratio:>8.2f} {r['cpu_ms']:>7.2f} "
            f"{r['pg_ms']:>6.2f} {r['ttft_p50']:>9.1f} {conns:>6} {r['errors']:>6}"
        )
    for r in results:
        s: Sampler = r["sampler"]
        per = max(1, s.samples)
        waits = ", ".join(f"{k} {v / per:.2f}" for k, v in s.waits.most_common(6))
        print(f"\nworkers={r['workers']}: active backends per sample by wait: {waits}")
        if s.locks:
            print(
                "  lock waits per sample: "
                + ", ".join(f"{k} {v / per:.2f}" for k, v in s.locks.most_common(5))
            )
        for query, n in s.queries.most_common(3):
            print(f"  waiting on a lock ({n / per:.2f}/sample): {query}")
        text, tables = r["rows"]
        print("  " + text)
        hot = tables.get("billing_budget_counter")
        if hot and r["budgets"]:
            per_row = hot[1] * r["rate"] / r["budgets"]
            print(
                f"  each budget counter row: {per_row:.0f} updates/s; a lock waiter in "
                f"{s.locked / per:.0%} of samples; while it is always waited on, "
                f"1/{per_row:.0f} s = {1000 / per_row:.1f} ms is what one update holds it"
            )
        if "chat_rows" in r:
            print("  chat turn: " + r["chat_rows"])
    print(
        f"\n(1-minute load average at start: {load[0]:.1f}; at end: {load[1]:.1f}; "
        f"{os.cpu_count()} cores)"
    )


async def bench(args: argparse.Namespace, server: str) -> None:
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    cmd = [sys.executable, str(ROOT / "bench" / "upstream.py"), "--port", str(up_port)]
    cmd += ["--chunk-delay-ms", str(args.chunk_delay_ms)]
    load_start = os.getloadavg()[0]
    results = []
    with process(cmd, dict(os.environ), f"{upstream}/models"):
        for _ in range(args.rounds):
            for workers in args.workers:
                result = await phase(args, workers, upstream, server)
                print(
                    f"  workers={workers}: {result['rate']:.1f} streams/s, "
                    f"{result['cpu_ms']:.2f} ms CPU/stream (+{result['pg_ms']:.2f} PostgreSQL), "
                    f"{result['errors']} errors",
                    flush=True,
                )
                results.append(result)
    report(results, (load_start, os.getloadavg()[0]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL server (a database is made per run)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=192)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--chunk-delay-ms", type=float, default=25)
    parser.add_argument("--budgets", action="store_true", help="a global and a team budget")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--chat", type=int, default=0, help="chat turns to count rows of")
    args = parser.parse_args()
    started = args.database_url is None
    server = (
        args.database_url
        or subprocess.run(
            ["bash", str(ROOT / ".ci" / "postgres.sh")], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    try:
        asyncio.run(bench(args, server))
    finally:
        if started:
            subprocess.run(
                ["bash", str(ROOT / ".ci" / "postgres.sh"), "--stop", server], check=False
            )


if __name__ == "__main__":
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"bench/scaling.py, {started_at}")
    main()
