"""What each statement costs PostgreSQL in a bench/scaling.py window: `pg_stat_statements`.

`bench/scaling.py --statements` starts its cluster with the extension loaded (`preload`, a
restart of the cluster `.ci/postgres.sh` made, with the same options), resets the counts at the
window's start and prints, per statement of the window's database: calls a stream, execution
and planning time a call (plans: how many calls were planned; a prepared statement reused on a
generic plan is planned about 6 times a connection, then never), WAL bytes and records a call and
shared buffers touched a call. The extension's own bookkeeping costs PostgreSQL a little CPU a
statement, so the CPU figures of a run with `--statements` are not compared with one without.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

TOP = """SELECT calls, total_exec_time, total_plan_time, plans, wal_bytes, wal_records,
       shared_blks_hit + shared_blks_read AS blocks, regexp_replace(query, '\\s+', ' ', 'g') AS q
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
 ORDER BY total_exec_time DESC LIMIT $1"""


def preload(url: str) -> None:
    """Restart the private cluster at `url` (made by .ci/postgres.sh) with pg_stat_statements
    loaded and its planning time tracked."""
    port = url.rsplit(":", 1)[1].split("/", 1)[0]
    data = next(
        d
        for d in Path("/tmp").glob("switchboard-pg.*")
        if (d / "postmaster.pid").exists()
        and (d / "postmaster.pid").read_text().splitlines()[3] == port
    )
    load = "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
    subprocess.run(["psql", "-qX", url, "-c", load], check=True, capture_output=True)
    binary = Path(data / "postmaster.opts").read_text().split()[0]
    run_as = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    pg_ctl = str(Path(binary).with_name("pg_ctl"))
    # A log file, not a pipe: the postmaster would hold the pipe open and the run never return.
    log = str(data / "server.log")
    restart = [*run_as, pg_ctl, "-D", str(data), "-l", log, "-w", "restart"]
    subprocess.run(restart, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # A setting known only once the library is loaded.
    plans = "ALTER SYSTEM SET pg_stat_statements.track_planning = on"
    for sql in (plans, "SELECT pg_reload_conf()"):
        subprocess.run(["psql", "-qX", url, "-c", sql], check=True, capture_output=True)


async def reset(url: str) -> bool:
    """Counts from now on, in `url`'s database; False when the extension is not loaded."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await connection.execute("SELECT pg_stat_statements_reset()")
    except asyncpg.PostgresError:
        return False
    finally:
        await connection.close()
    return True


async def report(url: str, streams: int, count: int = 6) -> str:
    """The `count` statements that took the most execution time since `reset`, a line each."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(TOP, count)
    finally:
        await connection.close()
    lines = ["  statements (pg_stat_statements, a call unless said):"]
    for r in rows:
        calls = max(1, r["calls"])
        exec_us = r["total_exec_time"] * 1000 / calls
        plan_us = r["total_plan_time"] * 1000 / max(1, r["plans"])
        lines.append(
            f"    {r['calls'] / max(1, streams):.2f} a stream, {exec_us:.0f} us exec,"
            f" {plan_us:.0f} us a plan"
            f" ({r['plans']} plans), {int(r['wal_bytes']) / calls:.0f} B WAL"
            f" ({r['wal_records'] / calls:.1f} records), {r['blocks'] / calls:.1f} buffers:"
            f" {r['q'][:70]}"
        )
    return "\n".join(lines)
