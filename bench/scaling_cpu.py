"""Where the CPU of bench/scaling.py goes: each component's CPU seconds, read from /proc.

Components: the server's processes (`switchboard serve` and its workers), PostgreSQL's backends
serving the server, PostgreSQL's other processes (background writer, WAL writer, checkpointer,
autovacuum launcher, and every process that exited during the run: closed backends and
autovacuum workers), the bench's sampling (its thread here and its backend), the load generator
(wrk, or the Python client in this process) and the upstream. Divided by the streams served,
these are the s and o of the capacity model (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import collections
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from bench.load import cpu_seconds

TICK = os.sysconf("SC_CLK_TCK")

# One round trip a sample (it was three: 0.05-0.11 ms of CPU a stream at 100 ms, bench/README.md):
# the active backends by wait and query, the lock waits by kind and table, the connections.
SAMPLE = """SELECT 'active' AS kind, coalesce(wait_event_type || ':' || wait_event, 'CPU') AS what,
       left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS query, 1::BIGINT AS n
  FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
UNION ALL
SELECT 'lock', l.locktype || coalesce(' ' || c.relname, ''), '', count(*)
  FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
 WHERE NOT l.granted GROUP BY 1, 2
UNION ALL
SELECT 'connections', '', '', count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()"""
CONNECTIONS = """SELECT count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()"""
# Per database: sessions opened (PostgreSQL 14+) and transactions; per table: autovacuum runs.
DATABASE = """SELECT sessions, xact_commit + xact_rollback AS xacts
  FROM pg_stat_database WHERE datname = current_database()"""
AUTOVACUUM = """SELECT coalesce(sum(autovacuum_count), 0) AS vacuums,
       coalesce(sum(autoanalyze_count), 0) AS analyzes FROM pg_stat_user_tables"""


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def postgres_split(postmaster: int, database: str, bench_pids: set[int]) -> dict[str, float]:
    """CPU seconds so far of PostgreSQL's processes: the backends of `database` serving the
    server, the bench's own backends (`bench_pids`: sampling, counting), the other live
    processes and the exited ones (reaped by the postmaster)."""
    fields = _stat(postmaster)
    out = {
        "pg_backends": 0.0,
        "pg_sampling": 0.0,
        "pg_other": (int(fields[11]) + int(fields[12])) / TICK,
        "pg_exited": (int(fields[13]) + int(fields[14])) / TICK,
    }
    for pid in _children(postmaster):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            child = _stat(pid)
        except OSError:
            continue
        used = (int(child[11]) + int(child[12])) / TICK
        if pid in bench_pids:
            out["pg_sampling"] += used
        elif f" {database} " in title:
            out["pg_backends"] += used
        else:
            out["pg_other"] += used
    return out


def server_split(pid: int) -> dict[str, float]:
    """CPU seconds so far of the server's supervisor and of each worker."""
    out = {"server": cpu_seconds(pid)}
    n = 0
    for child in sorted(_children(pid)):
        try:
            title = Path(f"/proc/{child}/cmdline").read_bytes()
            fields = _stat(child)
        except OSError:
            continue
        if b"resource_tracker" in title:
            continue  # multiprocessing's helper, not a worker
        n += 1
        out[f"worker {n}"] = (int(fields[11]) + int(fields[12])) / TICK
    return out


@dataclass
class Sampler:
    """What the database's backends wait on, every `interval` seconds, in a thread of its own
    (its own event loop), so that its CPU is measured apart from the load generator's."""

    url: str
    interval: float
    waits: collections.Counter[str] = field(default_factory=collections.Counter)
    queries: collections.Counter[str] = field(default_factory=collections.Counter)
    locks: collections.Counter[str] = field(default_factory=collections.Counter)
    connections: list[int] = field(default_factory=list)
    samples: int = 0
    locked: int = 0  # samples in which a backend waited on a lock
    cpu: float = 0.0  # this thread's CPU seconds
    backend_pid: int = 0
    native_id: int = 0  # the thread's, for its CPU in /proc/self/task
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        self._ready.wait(30)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def thread_cpu(self) -> float:
        """The sampling thread's CPU seconds so far."""
        path = Path(f"/proc/self/task/{self.native_id}/stat")
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return self.cpu
        return (int(fields[11]) + int(fields[12])) / TICK

    async def _run(self) -> None:
        self.native_id = threading.get_native_id()
        started = time.thread_time()
        connection = await asyncpg.connect(self.url)
        self.backend_pid = int(await connection.fetchval("SELECT pg_backend_pid()"))
        self._ready.set()
        try:
            while not self._stop.is_set():
                if self.interval > 0:
                    await self._sample(connection)
                await asyncio.sleep(self.interval if self.interval > 0 else 0.1)
        finally:
            await connection.close()
            self.cpu = time.thread_time() - started

    async def _sample(self, connection: asyncpg.Connection) -> None:
        self.samples += 1
        rows = await connection.fetch(SAMPLE)
        active = [r for r in rows if r["kind"] == "active"]
        self.locked += any(r["what"].startswith("Lock") for r in active)
        for row in active:
            self.waits[row["what"]] += 1
            if row["what"].startswith("Lock"):
                self.queries[row["query"]] += 1
        for row in rows:
            if row["kind"] == "lock":
                self.locks[row["what"]] += row["n"]
            elif row["kind"] == "connections":
                self.connections.append(int(row["n"]))


async def database_counts(url: str) -> dict[str, int]:
    """Sessions opened, transactions and autovacuum/autoanalyze runs so far in the database."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        row = await connection.fetchrow(DATABASE)
        vacuum = await connection.fetchrow(AUTOVACUUM)
        peak = int(await connection.fetchval(CONNECTIONS))
    finally:
        await connection.close()
    return {
        "sessions": int(row["sessions"]),
        "xacts": int(row["xacts"]),
        "autovacuum": int(vacuum["vacuums"]),
        "autoanalyze": int(vacuum["analyzes"]),
        "connections": peak,
    }


def snapshot(
    server: int, upstream: int, postmaster: int, database: str, bench_pids: set[int]
) -> dict[str, float]:
    """Every component's CPU seconds so far but the load generator's and the sampling thread's
    (the caller adds those)."""
    return {
        **server_split(server),
        **postgres_split(postmaster, database, bench_pids),
        "upstream": cpu_seconds(upstream),
    }


COLUMNS = ("server", "pg_backends", "pg_other", "pg_exited", "client", "upstream", "sampling")


def per_stream(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
    """CPU ms per stream of each component between two snapshots."""
    out = {k: (after[k] - before.get(k, 0.0)) * 1000 / count for k in after}
    out["sampling"] = out.pop("pg_sampling", 0.0) + out.pop("sampling_thread", 0.0)
    return out
