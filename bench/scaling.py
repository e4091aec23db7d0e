"""Scaling on PostgreSQL: /v1 streams/s of `switchboard serve --workers N`, and what serialises it.

One invocation starts a slow upstream (bench/upstream.py, one shared timer paces every stream's
chunks) and, for each worker count in turn (alternating, `--rounds` times, so every ratio comes
from one run), a fresh PostgreSQL database and `switchboard serve --workers N` on it. Each phase
drives /v1 streams at one concurrency for a fixed time (wrk when installed, else aiohttp:
bench/scaling_client.py) and prints:
  streams/s, and the ratio to the first worker count of the same round;
  CPU ms per stream of each component (bench/scaling_cpu.py): the server's processes,
  PostgreSQL's backends and its other processes, the load generator, the upstream, and the
  bench's own sampling, with the 2-core bound 2s/(s+o) they imply;
  what the database's active backends waited on, sampled every `--sample-ms` (`pg_stat_activity`),
  and the lock waits (`pg_locks` not granted) by kind and table;
  sessions PostgreSQL opened and transactions per stream, autovacuum runs;
  rows inserted / updated / deleted per stream (`pg_stat_user_tables` deltas);
  the server's connections to the database (per worker: its pool).
With `--budgets` a global and a team budget (the Everyone team) apply to every call: the rows
every admission and settlement update. `--chat N` ends with N chat turns on one worker and prints
the rows a turn writes.
`--statements` loads pg_stat_statements into the private cluster and prints each statement's
execution and planning time, WAL and buffers a call in the window (bench/scaling_statements.py);
bench/scaling_db.py measures PostgreSQL's CPU for a stream's statements alone, by schema.

    .venv/bin/python bench/scaling.py [--database-url postgresql://...] [--workers 1 2]
        [--concurrency 768] [--seconds 20] [--chunks 20] [--chunk-delay-ms 25] [--budgets]
        [--rounds 2] [--chat 40] [--client auto|wrk|python] [--sample-ms 250]
        [--statements]

Without --database-url it starts a private cluster with .ci/postgres.sh and stops it after.
wrk: `apt-get install -y wrk` (Debian); without it the Python client is used. 768 connections by
default: at 25 ms a chunk a stream lasts ~0.7 s, so 192 capped the rate near 275/s and left the
cores part idle (bench/README.md, "Issue 20 at a glance").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
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
from bench.load import cpu_seconds, postgres_server, run_load, served_env, stream_once  # noqa: E402
from bench.scaling_client import choose, start, warm  # noqa: E402
from bench.scaling_cpu import (  # noqa: E402
    Sampler,
    database_counts,
    per_stream,
    postgres_split,
    snapshot,
)
from bench.scaling_report import report  # noqa: E402
from bench.scaling_statements import preload, reset  # noqa: E402
from bench.scaling_statements import report as statements_report  # noqa: E402

TUPLES = """SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"""
# A /v1 call writes one ledger entry when it is settled, at its stream's end.
SETTLED = "SELECT count(*) FROM billing_ledger_entry"
QUEUED = """SELECT (SELECT count(*) FROM billing_reservation)
     + (SELECT count(*) FROM billing_ledger_entry)"""


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
    return sum(postgres_split(postmaster, "", set()).values())


async def tuples(url: str) -> dict[str, tuple[int, int, int]]:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        rows = await connection.fetch(TUPLES)
    finally:
        await connection.close()
    return {r["relname"]: (r["n_tup_ins"], r["n_tup_upd"], r["n_tup_del"]) for r in rows}


async def written(
    url: str,
    before: dict[str, tuple[int, int, int]],
    count: int,
    after: dict[str, tuple[int, int, int]] | None = None,
) -> tuple[str, dict[str, list[float]]]:
    """Rows inserted/updated/deleted per request from `before` to `after` (default: now, the
    statistics' delay waited for), by table. A busy backend reports its counts at most every
    second and an idle one up to 10 s late (PostgreSQL 15+), so a window under load is off by
    about a second's rows at each end."""
    if after is None:
        await asyncio.sleep(11.0)
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
    args: argparse.Namespace, workers: int, upstream: str, upstream_pid: int, server: str
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
    env = served_env(
        tmp / "data",
        tmp / "models.yaml",
        port,
        SWITCHBOARD_DATABASE_URL=url,
        PYTHONPATH=str(ROOT),
    )
    cmd = [sys.executable, "-m", "api.cli", "serve", "--workers", str(workers)]
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"workers": workers}
    with process(cmd, env, f"{base}/api/health") as served:
        token = token_for(base, "bench", "bench-password")
        await admin_setup(base, token, args.budgets)
        auth = {"Authorization": f"Bearer {token}"}
        body: dict[str, Any] = {
            "model": f"chunks-{args.chunks}",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Say something."}],
        }

        target = base + "/v1/chat/completions"
        await warm(target, body, token, args.concurrency)
        postmaster = await backend_parent(url)
        out |= await measure(args, url, name, target, body, token, (served.pid, upstream_pid))
        out["rows"] = await written(url, out.pop("tuples"), out["count"], out.pop("tuples_after"))
        out["budgets"] = 2 if args.budgets else 0
        if args.chat and workers == args.workers[0]:
            pids = (served.pid, postmaster)
            out["chat_rows"] = await chat_turns(base, auth, url, args, pids)
    admin = await asyncpg.connect(plain(server))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()
    return out


async def measure(
    args: argparse.Namespace,
    url: str,
    name: str,
    target: str,
    body: dict[str, Any],
    token: str,
    pids: tuple[int, int],
) -> dict[str, Any]:
    """The load for `--seconds` + 4 s; measured over `--seconds` from 2 s in: streams are the
    calls settled (ledger entries) in that window, CPU is each component's in that window."""
    server_pid, upstream_pid = pids
    postmaster = await backend_parent(url)
    probe = await asyncpg.connect(url)
    bench_pids = {int(await probe.fetchval("SELECT pg_backend_pid()"))}
    sampler = Sampler(url, args.sample_ms / 1000)
    sampler.start()
    bench_pids.add(sampler.backend_pid)
    others = [sampler.native_id]
    running = start(args.client, target, body, token, args.concurrency, args.seconds + 4, others)

    async def point() -> tuple[float, int, dict[str, float], dict[str, int]]:
        settled = int(await probe.fetchval(SETTLED))
        cpu = snapshot(server_pid, upstream_pid, postmaster, name, bench_pids)
        cpu |= {"client": running.cpu(), "sampling_thread": sampler.thread_cpu()}
        return time.perf_counter(), settled, cpu, await database_counts(url)

    await asyncio.sleep(2.0)
    before_tuples = await tuples(url)
    counting = args.statements and await reset(url)
    t0, n0, cpu0, db0 = await point()
    await asyncio.sleep(args.seconds)
    t1, n1, cpu1, db1 = await point()
    statements = await statements_report(url, n1 - n0) if counting else ""
    after_tuples = await tuples(url)
    errors, p50 = await running.finish()
    sampler.stop()
    await probe.close()
    count = max(1, n1 - n0)
    db = {k: db1[k] - db0[k] for k in ("sessions", "xacts", "autovacuum", "autoanalyze")}
    db["sessions"] -= 1  # database_counts' own connection
    return {
        "rate": (n1 - n0) / (t1 - t0),
        "count": count,
        "errors": errors,
        "p50": p50,
        "client": running.client,
        "ms": per_stream(cpu0, cpu1, count),
        "db": db,
        "connections": max(sampler.connections or [db1["connections"]]),
        "sampler": sampler,
        "tuples": before_tuples,
        "tuples_after": after_tuples,
        "statements": statements,
    }


async def quiet(url: str, seconds: float = 30.0) -> None:
    """Until the /v1 load's last calls are done (a saturated server still admits and settles the
    requests it had queued when wrk stopped), then 11 s more: an idle backend reports its row
    counts up to 10 s late (PostgreSQL 15+), which would count the load's last rows as the
    turns'."""
    connection = await asyncpg.connect(url)
    try:
        last, deadline = -1, time.monotonic() + seconds
        while time.monotonic() < deadline:
            now = int(await connection.fetchval(QUEUED))
            if now == last:
                break
            last = now
            await asyncio.sleep(1.0)
    finally:
        await connection.close()
    await asyncio.sleep(11.0)


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
    await quiet(url)
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


async def bench(args: argparse.Namespace, server: str) -> None:
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    cmd = [sys.executable, str(ROOT / "bench" / "upstream.py"), "--port", str(up_port)]
    cmd += ["--chunk-delay-ms", str(args.chunk_delay_ms)]
    load_start = os.getloadavg()[0]
    results = []
    with process(cmd, dict(os.environ), f"{upstream}/models") as up:
        for _ in range(args.rounds):
            for workers in args.workers:
                result = await phase(args, workers, upstream, up.pid, server)
                ms = result["ms"]
                print(
                    f"  workers={workers}: {result['rate']:.1f} streams/s, server"
                    f" {ms['server']:.2f} ms CPU/stream, PostgreSQL backends"
                    f" {ms['pg_backends']:.2f}, client {ms['client']:.2f}, upstream"
                    f" {ms['upstream']:.2f}, {result['errors']} errors"
                    f" (load average {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
                if result["statements"]:
                    print(result["statements"], flush=True)
                results.append(result)
    report(results, (load_start, os.getloadavg()[0]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL server (a database is made per run)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=768)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--chunk-delay-ms", type=float, default=25)
    parser.add_argument("--budgets", action="store_true", help="a global and a team budget")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--chat", type=int, default=0, help="chat turns to count rows of")
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="the load generator: wrk (Debian's package; auto picks it when installed) or aiohttp",
    )
    parser.add_argument(
        "--sample-ms",
        type=float,
        default=250,
        help="sample pg_stat_activity/pg_locks this often, one statement a sample (0: never; 100"
        " until 2026-12-05 21:50, three statements; 20 in the first runs)",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="print each statement's cost (pg_stat_statements; loaded into the private cluster)",
    )
    args = parser.parse_args()
    args.client = choose(args.client)
    with postgres_server(args.database_url) as server:
        if args.statements and not args.database_url:
            preload(server)
        asyncio.run(bench(args, server))


if __name__ == "__main__":
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"bench/scaling.py, {started_at}")
    main()
