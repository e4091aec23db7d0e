"""`/v1/embeddings` requests/s: Switchboard against the upstream called directly and LiteLLM Proxy.

One invocation starts the test fake upstream (`tests/fakes/upstream.py`, which answers
`/v1/embeddings` with hashed vectors) and Switchboard (`switchboard serve`, SQLite, one worker)
as separate processes on 127.0.0.1 and measures, at each concurrency and inputs per request:
  direct  — the upstream's /v1/embeddings called straight (the floor),
  v1      — Switchboard's /v1/embeddings with a catalog embedding model on that upstream: auth,
            token counting, billing admission and settlement, the provider call, the answer,
  local   — Switchboard's bundled local model (`--local`; all-MiniLM-L6-v2 on this CPU),
  proxy   — LiteLLM Proxy with the same model (`--proxy`; its own virtualenv under
            bench/.proxy-venv, made on first use, no database, one worker).
Each row: --requests requests (none started after 30 s) after 20 warm-up ones, floats asked for.
Printed: requests/s, latency p50/p95/p99 (ms), the ratio against LiteLLM Proxy, and CPU ms per
request of the server measured.

    .venv/bin/python bench/embeddings.py [--requests 300] [--concurrency 1 32]
        [--inputs 1 16] [--proxy] [--local]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `bench.*` is found from the repository root

from bench.gateway import ensure_proxy_venv, free_port, process, served_env, token_for  # noqa: E402
from bench.load import Result, Units, measured, rss_mb  # noqa: E402

REQUESTS = Units(request="request", size="inputs", latency="p50")

MODEL = "embed"
UPSTREAM_MODEL = "text-embedding-3-small"
LOCAL = "local-embedding"


def catalog_yaml(upstream: str, *, local: bool) -> str:
    """The embedding model on the upstream (and the bundled local model), in models.yaml's shape."""
    entries: list[dict[str, Any]] = [
        {
            "model_name": MODEL,
            "litellm_params": {
                "model": f"openai/{UPSTREAM_MODEL}",
                "api_base": upstream,
                "api_key": "bench",
            },
            "model_info": {
                "mode": "embedding",
                "input_cost_per_token": 2e-8,
                "output_cost_per_token": 0,
            },
        }
    ]
    if local:
        entries.append(
            {
                "model_name": LOCAL,
                "litellm_params": {"model": "sentence-transformers/all-MiniLM-L6-v2"},
                "model_info": {
                    "mode": "embedding",
                    "input_cost_per_token": 0,
                    "output_cost_per_token": 0,
                },
            }
        )
    return json.dumps({"model_list": entries, "router_settings": {"num_retries": 0}})


def body_of(model: str, inputs: int) -> dict[str, Any]:
    """A request of `inputs` short texts (about 12 tokens each)."""
    texts = [
        f"request text number {i}: the quick brown fox jumps over the dog" for i in range(inputs)
    ]
    return {"model": model, "input": texts, "encoding_format": "float"}


async def call_once(
    client: aiohttp.ClientSession, url: str, body: dict[str, Any], headers: dict[str, str]
) -> float:
    """One request read to its end; returns its latency in ms."""
    started = time.perf_counter()
    async with client.post(url, json=body, headers=headers) as response:
        data = await response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status} {data[:200]!r}")
    return (time.perf_counter() - started) * 1000


async def bench(args: argparse.Namespace) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    up_port, sb_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-embed-"))
    sb_env = served_env(env, tmp, catalog_yaml(upstream, local=args.local), sb_port)
    up_cmd = [sys.executable, "-m", "tests.fakes.upstream", "--port", str(up_port)]
    sb_cmd = [str(ROOT / ".venv" / "bin" / "switchboard"), "serve"]
    results: list[Result] = []
    memory: dict[str, float] = {}
    load = os.getloadavg()[0]
    with process(up_cmd, env, f"{upstream}/models") as up:
        with process(sb_cmd, sb_env, f"http://127.0.0.1:{sb_port}/api/health") as sb:
            base = f"http://127.0.0.1:{sb_port}"
            auth = {"Authorization": f"Bearer {token_for(base, 'bench', 'bench-password')}"}
            for inputs in args.inputs:
                for concurrency in args.concurrency:
                    results += await measure_switchboard(
                        args, base, upstream, auth, inputs, concurrency, (up.pid, sb.pid)
                    )
            memory["switchboard (after load)"] = rss_mb(sb.pid)
        if args.proxy:
            results += await measure_proxy(tmp, upstream, env, args, memory)
    shutil.rmtree(tmp, ignore_errors=True)
    report(results, memory)
    print(f"(1-minute load average at start: {load:.1f}; at end: {os.getloadavg()[0]:.1f})")


async def measure_switchboard(
    args: argparse.Namespace,
    base: str,
    upstream: str,
    auth: dict[str, str],
    inputs: int,
    concurrency: int,
    pids: tuple[int, int],
) -> list[Result]:
    upstream_body = {**body_of(UPSTREAM_MODEL, inputs)}

    async def direct(client: aiohttp.ClientSession) -> float:
        return await call_once(client, upstream + "/embeddings", upstream_body, {})

    async def v1(client: aiohttp.ClientSession) -> float:
        return await call_once(client, base + "/v1/embeddings", body_of(MODEL, inputs), auth)

    async def local(client: aiohttp.ClientSession) -> float:
        return await call_once(client, base + "/v1/embeddings", body_of(LOCAL, inputs), auth)

    up_pid, sb_pid = pids
    rows = [
        await measured(
            "direct", direct, up_pid, inputs, concurrency, args.requests, units=REQUESTS
        ),
        await measured("v1", v1, sb_pid, inputs, concurrency, args.requests, units=REQUESTS),
    ]
    if args.local:
        rows.append(
            await measured(
                "local", local, sb_pid, inputs, concurrency, args.requests, units=REQUESTS
            )
        )
    return rows


async def measure_proxy(
    tmp: Path,
    upstream: str,
    env: dict[str, str],
    args: argparse.Namespace,
    memory: dict[str, float],
) -> list[Result]:
    litellm_bin = ensure_proxy_venv()
    port = free_port()
    config = tmp / "proxy.yaml"
    config.write_text(catalog_yaml(upstream, local=False))
    cmd = [str(litellm_bin), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    key = "sk-bench-" + os.urandom(16).hex()  # the proxy refuses to start without a master key
    auth = {"Authorization": f"Bearer {key}"}
    out = []
    proxy_env = {**env, "LITELLM_MASTER_KEY": key}
    with process(cmd, proxy_env, f"http://127.0.0.1:{port}/health/liveliness") as proxy:
        memory["litellm proxy (idle)"] = rss_mb(proxy.pid)
        for inputs in args.inputs:
            body = body_of(MODEL, inputs)

            async def call(client: aiohttp.ClientSession, body: dict[str, Any] = body) -> float:
                return await call_once(client, f"http://127.0.0.1:{port}/v1/embeddings", body, auth)

            for concurrency in args.concurrency:
                out.append(
                    await measured(
                        "proxy", call, proxy.pid, inputs, concurrency, args.requests, units=REQUESTS
                    )
                )
        memory["litellm proxy (after load)"] = rss_mb(proxy.pid)
    return out


def report(results: list[Result], memory: dict[str, float]) -> None:
    print(
        f"{'target':8} {'conc':>4} {'inputs':>6} {'req/s':>9} {'p50 ms':>8} {'p95':>8} "
        f"{'p99':>8} {'x proxy':>8} {'cpu ms':>7} {'errors':>6}"
    )
    for r in results:
        proxy = next(
            (
                p
                for p in results
                if p.target == "proxy" and (p.concurrency, p.chunks) == (r.concurrency, r.chunks)
            ),
            None,
        )
        ratio = f"{r.streams_per_s / proxy.streams_per_s:.2f}" if proxy and r is not proxy else ""
        print(
            f"{r.target:8} {r.concurrency:>4} {r.chunks:>6} {r.streams_per_s:>9.1f} "
            f"{r.pct(0.5):>8.1f} {r.pct(0.95):>8.1f} {r.pct(0.99):>8.1f} {ratio:>8} "
            f"{r.cpu_ms:>7.2f} {r.errors:>6}"
        )
    for name, mb in memory.items():
        print(f"resident memory, {name}: {mb:.0f} MB")
    print("(cpu ms = the measured server's CPU time per request: the upstream's for direct)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--inputs", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--proxy", action="store_true", help="also measure LiteLLM Proxy")
    parser.add_argument("--local", action="store_true", help="also the bundled local model")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
