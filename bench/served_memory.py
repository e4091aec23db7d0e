"""A served server's resident memory from start to after indexing, every process counted.

Starts `switchboard serve` (one worker, SQLite, a fresh data directory, the default embedding
backend and warm start, the bench's catalog: one model called directly, `--litellm` adds one
that needs LiteLLM as `make run`'s default catalog does) and reads the resident memory of the
server alone and of its process tree (every thread's children: the parse and embedding pools
start their processes from worker threads, bench/retrieval.py's walk):
  ready    — `/api/ready` answers, nobody signed in;
  warm     — after the first sign-in, once `/metrics` says the gateway is warm;
  indexing — the peak while `--pages` pages of Python's HTML docs (`apt-get install
             python3.11-doc`), uploaded through `POST /api/library/files`, are parsed, chunked
             and embedded (sampled every 0.2 s until none is pending or indexing);
  indexed  — right after;
  after    — `--idle` seconds later (the embedding worker stops after
             SWITCHBOARD_EMBEDDING_IDLE_SECONDS, set to `--worker-idle`).
Then whether LiteLLM is loaded (`switchboard_litellm_loaded`) and the 1-minute load average at
each step. Loopback only; bounded in time.

    .venv/bin/python bench/served_memory.py [--pages 32] [--idle 75] [--worker-idle 60]
        [--litellm]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `bench.*` is found from the repository root

from bench.first_token import litellm_loaded, warmed, with_litellm_model  # noqa: E402
from bench.gateway import catalog_yaml, free_port, process, token_for  # noqa: E402
from bench.load import served_env  # noqa: E402
from bench.retrieval import family  # noqa: E402

CORPUS = Path("/usr/share/doc/python3.11/html/library")
MODELS = Path(tempfile.gettempdir()) / "switchboard-test-models"  # the benches' model cache


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def memory(pid: int) -> tuple[float, float, int]:
    """Resident MB of the server alone and of its whole process tree, and the tree's size."""
    members = family(pid)
    return _rss_mb(pid), sum(_rss_mb(m) for m in members), len(members)


def line(step: str, pid: int) -> str:
    alone, tree, count = memory(pid)
    load = os.getloadavg()[0]
    return f"| {step} | {alone:.0f} | {tree:.0f} ({count} processes) | {load:.1f} |"


async def indexing_peak(
    client: httpx.AsyncClient, pid: int, pages: list[Path], seconds: float
) -> tuple[float, float, float]:
    """Upload `pages`, wait until none is pending or indexing; the peaks (server, tree) in MB
    and the seconds it took."""
    peak = [0.0, 0.0]
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            alone, tree, _ = memory(pid)
            peak[0], peak[1] = max(peak[0], alone), max(peak[1], tree)
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    started = time.monotonic()
    for start in range(0, len(pages), 8):
        files = [("files", (p.name, p.read_bytes(), "text/html")) for p in pages[start : start + 8]]
        (await client.post("/api/library/files", files=files)).raise_for_status()
    deadline = started + seconds
    while time.monotonic() < deadline:
        busy = 0
        for status in ("pending", "indexing"):
            listed = await client.get("/api/library/files", params={"status": status})
            busy += len(listed.raise_for_status().json()["_embedded"]["files"])
        if not busy:
            break
        await asyncio.sleep(0.5)
    took = time.monotonic() - started
    stop.set()
    await sampler
    return peak[0], peak[1], took


async def bench(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sb-served-memory-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    catalog = catalog_yaml("http://127.0.0.1:9/v1", [20])  # no model call is made
    (tmp / "models.yaml").write_text(with_litellm_model(catalog) if args.litellm else catalog)
    env = served_env(
        tmp / "data",
        tmp / "models.yaml",
        port,
        SWITCHBOARD_EMBEDDING_CACHE_DIR=str(MODELS),
        SWITCHBOARD_EMBEDDING_IDLE_SECONDS=str(args.worker_idle),
    )
    pages = sorted(CORPUS.glob("*.html"))[: args.pages]
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {len(pages)} pages", flush=True)
    print("| step | server MB | process tree MB | 1-min load |\n| --- | ---: | ---: | ---: |")
    cmd = [sys.executable, "-m", "api.cli", "serve"]
    try:
        with process(cmd, env, f"{base}/api/ready") as server:
            pid = server.pid
            print(line("ready, nobody signed in", pid), flush=True)
            auth = {"Authorization": f"Bearer {token_for(base, 'bench', 'bench-password')}"}
            await warmed(base, auth, 120)
            print(line("warm (after the first sign-in)", pid), flush=True)
            async with httpx.AsyncClient(base_url=base, headers=auth, timeout=120) as client:
                alone, tree, took = await indexing_peak(client, pid, pages, args.seconds)
                load = os.getloadavg()[0]
                step = f"peak while indexing ({took:.0f} s)"
                print(f"| {step} | {alone:.0f} | {tree:.0f} | {load:.1f} |", flush=True)
                print(line("indexed", pid), flush=True)
                await asyncio.sleep(args.idle)
                print(line(f"{args.idle:.0f} s later", pid), flush=True)
            print(f"LiteLLM loaded: {await litellm_loaded(base, auth)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pages", type=int, default=32)
    parser.add_argument("--idle", type=float, default=75.0, help="seconds idle after indexing")
    parser.add_argument("--worker-idle", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=600.0, help="most time for indexing")
    parser.add_argument(
        "--litellm", action="store_true", help="add a model that needs LiteLLM (mock_response)"
    )
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
