"""Round trips to PostgreSQL per `/v1` stream, and which statements they are.

`.venv/bin/python bench/scaling_round_trips.py` starts PostgreSQL (`.ci/postgres.sh`, unless
`--database-url`), the bench upstream and, for each case in turn, `switchboard serve` (one
worker) on a fresh database reached through a loopback proxy that reads the wire
(tests/pg_round_trips.py). After a warm-up it sends `--streams` streams one at a time and prints
the round trips a stream made and the statements of the last one. Cases: `plain` (what
bench/scaling.py measures), `budgets` (a global and a team budget, as `--budgets` there) and
`limits` (a default per-user requests-per-minute limit). Counts, not times: loading the machine
does not change them (a background task of the server could add one in a window; none did).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import threading
from pathlib import Path

import aiohttp
import asyncpg  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gateway import catalog_yaml, free_port, process, token_for  # noqa: E402
from bench.load import postgres_server, served_env, stream_once  # noqa: E402
from bench.scaling import admin_setup, plain  # noqa: E402
from tests.pg_round_trips import RoundTrips  # noqa: E402

CASES = {"plain": {}, "budgets": {}, "limits": {"SWITCHBOARD_RATE_LIMIT_USER_RPM": "100000"}}


async def one_case(case: str, server: str, upstream: str, streams: int) -> None:
    name = "sb_trips_" + secrets.token_hex(4)
    admin = await asyncpg.connect(plain(server))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    wire = RoundTrips()
    # The proxy gets a loop of its own: waiting for the server to come up blocks this one.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    url = asyncio.run_coroutine_threadsafe(wire.start(plain(server, name)), loop).result()
    tmp = Path(tempfile.mkdtemp(prefix="sb-trips-"))
    (tmp / "models.yaml").write_text(catalog_yaml(upstream, [5]))
    port = free_port()
    settings = {"SWITCHBOARD_DATABASE_URL": url, "PYTHONPATH": str(ROOT), **CASES[case]}
    env = served_env(tmp / "data", tmp / "models.yaml", port, **settings)
    cmd = [sys.executable, "-m", "api.cli", "serve", "--workers", "1"]
    base = f"http://127.0.0.1:{port}"
    body = {
        "model": "chunks-5",
        "stream": True,
        "messages": [{"role": "user", "content": "Say something."}],
    }
    with process(cmd, env, f"{base}/api/health"):
        token = await asyncio.to_thread(token_for, base, "bench", "bench-password")
        await admin_setup(base, token, case == "budgets")
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as client:
            for _ in range(3):
                await stream_once(client, f"{base}/v1/chat/completions", body, headers)
            before = len(wire.executed())
            for _ in range(streams):
                last = len(wire.executed())
                await stream_once(client, f"{base}/v1/chat/completions", body, headers)
        trips = wire.executed()
    asyncio.run_coroutine_threadsafe(wire.stop(), loop).result()
    loop.call_soon_threadsafe(loop.stop)
    print(f"{case}: {(len(trips) - before) / streams:.2f} round trips a stream")
    for trip in trips[last:]:
        print("   ", "; ".join(" ".join(s.split())[:110] for s in trip.statements))
    admin = await asyncpg.connect(plain(server))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def main(args: argparse.Namespace, server: str) -> None:
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    cmd = [sys.executable, str(ROOT / "bench" / "upstream.py"), "--port", str(up_port)]
    with process(cmd, dict(os.environ), f"{upstream}/models"):
        for case in args.cases:
            await one_case(case, server, upstream, args.streams)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="a PostgreSQL server (a database is made per case)")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--streams", type=int, default=10)
    args = parser.parse_args()
    with postgres_server(args.database_url) as server:
        asyncio.run(main(args, server))
