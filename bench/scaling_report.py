"""The printed report of bench/scaling.py: streams/s and CPU ms a stream by component, the 2-core
bound they imply, what PostgreSQL's backends waited on and the rows a stream wrote."""

from __future__ import annotations

import os
from typing import Any

from bench.scaling_cpu import Sampler


def _table(results: list[dict[str, Any]]) -> None:
    """Streams/s and CPU ms a stream by component, a row a phase."""
    first = results[0]["workers"]
    print(
        f"\nCPU ms per stream by component (client: {results[0]['client']}); o = all but the server"
    )
    head = [
        *("workers", "streams/s", "x first", "server", "pg back", "pg other", "client"),
        *("upstream", "sampling", "o", "cores", "p50 ms", "conns", "new conn", "xact", "errors"),
    ]
    print(" ".join(f"{h:>9}" for h in head))
    base_rate = None
    for r in results:
        if r["workers"] == first:
            base_rate = r["rate"]
        ms, db, count = r["ms"], r["db"], r["count"]
        pg_other = ms["pg_other"] + ms["pg_exited"]
        other = sum(ms[k] for k in ("pg_backends", "client", "upstream", "sampling")) + pg_other
        cells = [
            f"{r['workers']}",
            f"{r['rate']:.1f}",
            f"{r['rate'] / base_rate:.2f}" if base_rate else "nan",
            *(f"{v:.2f}" for v in (ms["server"], ms["pg_backends"], pg_other, ms["client"])),
            *(f"{v:.2f}" for v in (ms["upstream"], ms["sampling"], other)),
            f"{r['rate'] * (ms['server'] + other) / 1000:.2f}",
            f"{r['p50']:.0f}",
            f"{r['connections']}",
            f"{db['sessions'] / count:.3f}",
            f"{db['xacts'] / count:.2f}",
            f"{r['errors']}",
        ]
        print(" ".join(f"{c:>9}" for c in cells))
    print(
        "  (cores: streams/s x all CPU ms / 1000, the CPU the run kept busy; new conn: sessions"
        " PostgreSQL opened per stream; xact: transactions per stream; p50: wrk's whole stream,"
        " the Python client's first token)"
    )


def _bound(r: dict[str, Any]) -> None:
    """What two workers could give on 2 cores at this phase's CPU a stream."""
    ms = r["ms"]
    s_ms = ms["server"]
    o_ms = sum(ms[k] for k in ("pg_backends", "pg_other", "pg_exited", "client", "upstream"))
    o_ms += ms["sampling"]
    workers = ", ".join(f"{k} {v:.2f}" for k, v in ms.items() if k.startswith("worker"))
    workers = f" ({workers}; the rest is the supervisor)" if workers else ""
    print(
        f"\nworkers={r['workers']}: server {s_ms:.2f} ms a stream{workers}; on 2 cores one"
        f" worker serves at most 1000/s = {1000 / s_ms:.0f}/s and"
        f" two at most 2000/(s+o) = {2000 / (s_ms + o_ms):.0f}/s: ratio <= 2s/(s+o) ="
        f" {2 * s_ms / (s_ms + o_ms):.2f}"
    )


def _database(r: dict[str, Any]) -> None:
    """PostgreSQL's side of a phase: sessions, waits, locks, rows written, hot rows."""
    db = r["db"]
    print(
        f"  PostgreSQL: {db['sessions']} sessions opened, {db['xacts']} transactions,"
        f" autovacuum {db['autovacuum']} runs and autoanalyze {db['autoanalyze']} during the"
        f" run; peak connections {r['connections']}"
    )
    sampler: Sampler = r["sampler"]
    per = max(1, sampler.samples)
    if sampler.samples:
        waits = ", ".join(f"{k} {v / per:.2f}" for k, v in sampler.waits.most_common(6))
        print(f"  active backends per sample by wait ({sampler.samples} samples): {waits}")
    if sampler.locks:
        print(
            "  lock waits per sample: "
            + ", ".join(f"{k} {v / per:.2f}" for k, v in sampler.locks.most_common(5))
        )
    for query, n in sampler.queries.most_common(3):
        print(f"  waiting on a lock ({n / per:.2f}/sample): {query}")
    text, tables = r["rows"]
    print("  " + text)
    hot = tables.get("billing_budget_counter")
    if hot and r["budgets"]:
        per_row = hot[1] * r["rate"] / r["budgets"]
        print(
            f"  each budget counter row: {per_row:.0f} updates/s; a lock waiter in "
            f"{sampler.locked / per:.0%} of samples; while it is always waited on, "
            f"1/{per_row:.0f} s = {1000 / per_row:.1f} ms is what one update holds it"
        )
    if "chat_rows" in r:
        print("  chat turn: " + r["chat_rows"])


def report(results: list[dict[str, Any]], load: tuple[float, float]) -> None:
    """The table of streams/s and CPU ms a stream by component, then waits and rows written."""
    _table(results)
    for r in results:
        _bound(r)
        _database(r)
    print(
        f"\n(1-minute load average at start: {load[0]:.1f}; at end: {load[1]:.1f}; "
        f"{os.cpu_count()} cores)"
    )
