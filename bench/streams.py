"""Many open streams from a slow provider, and memory after many streams (issue 20 item 4).

Two measures, each against a `switchboard serve` (SQLite, one worker) on 127.0.0.1:
  open — `--open` (1,000) streams at once on `/v1/chat/completions` (and, with `--chat`, as chat
         turns) from an upstream that takes `--seconds` (30) to answer: errors, the server's
         peak and final resident memory (sampled every 0.5 s), its CPU time, and how long the
         last stream took; then the same against LiteLLM Proxy (`--proxy`, its own virtualenv
         as bench/gateway.py makes it, no database, one worker);
  many — `--many` (10,000) fast streams (`--concurrency` at a time), mixed as bench/gateway.py's
         load is (`/v1/chat/completions`, `/v1/messages` as Claude Code sends it, chat turns of
         at most 10 turns a chat): the server's resident memory once warm (its sign-in warm-up
         done, /metrics) and after each quarter, and whether LiteLLM was loaded at the end. The
         catalog's model is called directly; `--litellm` adds a model that needs LiteLLM
         (bench/first_token.py), so the warm-up loads it as `make run`'s default catalog does.
With `--trace DIR` the many phase runs the server under bench/memtrace.py (tracemalloc) and
takes a snapshot at each quarter (`bench/memtrace.py --compare DIR 1 5` diffs them).
The upstream is bench/upstream.py (`--chunk-delay-ms` for the slow one). The process raises its
own open-file limit (the servers inherit it). Loopback only; each phase is bounded in time.

    .venv/bin/python bench/streams.py [--open 1000] [--seconds 30] [--many 10000] [--proxy]
        [--chat] [--phases open many] [--litellm]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `bench.load` is found from the repository root

from bench.claude_code import claude_code_body, claude_code_headers  # noqa: E402
from bench.first_token import litellm_loaded, warmed, with_litellm_model  # noqa: E402
from bench.gateway import (  # noqa: E402
    catalog_yaml,
    ensure_proxy_venv,
    free_port,
    process,
    token_for,
)
from bench.load import cpu_seconds, rss_mb, stream_once  # noqa: E402

CHUNKS = 20
MODEL = f"chunks-{CHUNKS}"
Call = Callable[[aiohttp.ClientSession], Awaitable[float]]


def raise_open_files(wanted: int) -> int:
    """The soft limit on open files raised towards `wanted` (at most the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def body() -> dict[str, Any]:
    return {
        "model": MODEL,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "Say something."}],
    }


async def sampled(pid: int, work: Awaitable[Any], peak: list[float]) -> Any:
    """Run `work` while sampling the resident memory of `pid` every 0.5 s into `peak[0]`."""
    task = asyncio.ensure_future(work)
    while not task.done():
        peak[0] = max(peak[0], rss_mb(pid))
        await asyncio.wait({task}, timeout=0.5)
    return task.result()


async def open_at_once(
    name: str, call: Call, pid: int, count: int, seconds: float
) -> dict[str, Any]:
    """`count` streams started together; how they ended and what the server used."""
    connector = aiohttp.TCPConnector(limit=count + 8)
    timeout = aiohttp.ClientTimeout(total=seconds * 3 + 60)
    async with aiohttp.ClientSession(timeout=timeout) as client:
        await call(client)  # a first stream loads what a first stream loads, unmeasured
    idle = rss_mb(pid)
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    peak = [idle]
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def one() -> tuple[float, float]:
            ttft = await call(client)
            return ttft, time.monotonic() - started

        outcomes = await sampled(
            pid, asyncio.gather(*(one() for _ in range(count)), return_exceptions=True), peak
        )
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    row = {
        "target": name,
        "streams": count,
        "errors": len(failures),
        "first_error": repr(failures[0])[:160] if failures else "",
        "ttft_p50_ms": sorted(t for t, _ in done)[len(done) // 2] if done else float("nan"),
        "ttft_max_ms": max((t for t, _ in done), default=float("nan")),
        "last_done_s": max((d for _, d in done), default=float("nan")),
        "cpu_s": cpu_seconds(pid) - cpu_before,
        "rss_before_mb": idle,
        "rss_peak_mb": peak[0],
        "rss_after_mb": rss_mb(pid),
    }
    print(f"  {json.dumps(row)}", flush=True)
    return row


async def chat_call(base: str, auth: dict[str, str], chats: int, turns_each: int) -> Call:
    """A chat turn on one of `chats` fresh chats, each used for at most `turns_each` turns."""
    free: asyncio.Queue[str] = asyncio.Queue()
    used: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=60) as setup:
        for _ in range(chats):
            response = await setup.post("/api/chats", json={"model": MODEL, "title": "Streams"})
            free.put_nowait(response.raise_for_status().json()["id"])

    async def call(client: aiohttp.ClientSession) -> float:
        chat_id = await free.get()
        try:
            url = f"{base}/api/chats/{chat_id}/messages"
            return await stream_once(client, url, {"content": "Go on.", "stream": True}, auth)
        finally:
            used[chat_id] = used.get(chat_id, 0) + 1
            if used[chat_id] < turns_each:
                free.put_nowait(chat_id)

    return call


async def many_streams(
    base: str, auth: dict[str, str], pid: int, total: int, concurrency: int, trace: bool = False
) -> list[tuple[int, float, int]]:
    """`total` fast streams, a third each of /v1, /v1/messages and chat turns (in rounds);
    (streams so far, resident MB, errors so far) after each quarter."""
    claude = claude_code_headers(auth["Authorization"].removeprefix("Bearer "))
    chat = await chat_call(base, auth, total // 3 // 10 + concurrency + 1, 10)

    async def v1(client: aiohttp.ClientSession) -> float:
        return await stream_once(client, base + "/v1/chat/completions", body(), auth)

    async def messages(client: aiohttp.ClientSession) -> float:
        url = base + "/v1/messages"
        return await stream_once(client, url, claude_code_body(MODEL), claude, (b"text_delta",))

    kinds = [v1, messages, chat]
    await warmed(base, auth, 120)  # the sign-in warm-up (the token's login started it)
    points = [(0, rss_mb(pid), 0)]
    if trace:
        os.kill(pid, signal.SIGUSR2)  # bench/memtrace.py: a snapshot
    done = errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency + 8)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as client:
        for _ in range(4):
            todo = iter(range(total // 4))

            async def worker(todo: Iterator[int] = todo) -> None:
                nonlocal done, errors
                for i in todo:
                    try:
                        await kinds[i % 3](client)
                    except (TimeoutError, RuntimeError, aiohttp.ClientError):
                        errors += 1
                    done += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            points.append((done, rss_mb(pid), errors))
            if trace:
                os.kill(pid, signal.SIGUSR2)
            print(
                f"  many: {done} streams, RSS {points[-1][1]:.0f} MB, {errors} errors, "
                f"1-minute load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    print(f"  many: LiteLLM loaded at the end: {await litellm_loaded(base, auth)}", flush=True)
    return points


def switchboard_env(
    tmp: Path, port: int, env: dict[str, str], upstream: str, litellm: bool = False
) -> dict[str, str]:
    data = tmp / f"data-{port}"
    models = tmp / f"models-{port}.yaml"
    catalog = catalog_yaml(upstream, [CHUNKS])
    models.write_text(with_litellm_model(catalog) if litellm else catalog)
    return {
        **env,
        "SWITCHBOARD_DATA_DIR": str(data),
        "SWITCHBOARD_MODELS": str(models),
        "SWITCHBOARD_ADMIN_USERNAME": "bench",
        "SWITCHBOARD_ADMIN_PASSWORD": "bench-password",
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_PORT": str(port),
        "SWITCHBOARD_HOST": "127.0.0.1",
        "SWITCHBOARD_EMBEDDING_BACKEND": "hash",
    }


def upstream_cmd(port: int, delay_ms: float) -> list[str]:
    cmd = [sys.executable, str(ROOT / "bench" / "upstream.py"), "--port", str(port)]
    return cmd + (["--chunk-delay-ms", str(delay_ms)] if delay_ms else [])


async def open_phase(
    args: argparse.Namespace, tmp: Path, env: dict[str, str]
) -> list[dict[str, Any]]:
    rows = []
    up_port, port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    # head, CHUNKS content chunks, finish, usage, [DONE] and the end: a delay before each
    delay_ms = args.seconds * 1000 / (CHUNKS + 4)
    sb_cmd = [sys.executable, "-m", "api.cli", "serve"]
    with process(upstream_cmd(up_port, delay_ms), env, f"{upstream}/models"):
        sb_env = switchboard_env(tmp, port, env, upstream, args.litellm)
        base = f"http://127.0.0.1:{port}"
        with process(sb_cmd, sb_env, f"{base}/api/health") as sb:
            auth = {"Authorization": f"Bearer {token_for(base, 'bench', 'bench-password')}"}

            async def v1(client: aiohttp.ClientSession) -> float:
                return await stream_once(client, base + "/v1/chat/completions", body(), auth)

            rows.append(await open_at_once("switchboard /v1", v1, sb.pid, args.open, args.seconds))
            if args.chat:
                chat = await chat_call(base, auth, args.open + 1, 1)  # +1: the warm-up's
                rows.append(
                    await open_at_once("switchboard chat", chat, sb.pid, args.open, args.seconds)
                )
        if args.proxy:
            rows.append(await proxy_open(args, tmp, env, upstream))
    return rows


async def proxy_open(
    args: argparse.Namespace, tmp: Path, env: dict[str, str], upstream: str
) -> dict[str, Any]:
    litellm_bin = ensure_proxy_venv()
    port = free_port()
    config = tmp / "proxy.yaml"
    config.write_text(catalog_yaml(upstream, [CHUNKS]))
    key = "sk-bench-" + os.urandom(16).hex()
    cmd = [str(litellm_bin), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    auth = {"Authorization": f"Bearer {key}"}
    with process(
        cmd, {**env, "LITELLM_MASTER_KEY": key}, f"http://127.0.0.1:{port}/health/liveliness"
    ) as proxy:

        async def call(client: aiohttp.ClientSession) -> float:
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            return await stream_once(client, url, body(), auth)

        return await open_at_once("litellm proxy", call, proxy.pid, args.open, args.seconds)


async def many_phase(
    args: argparse.Namespace, tmp: Path, env: dict[str, str]
) -> list[tuple[int, float, int]]:
    up_port, port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    sb_cmd = [sys.executable, "-m", "api.cli", "serve"]
    if args.trace:
        sb_cmd = [sys.executable, str(ROOT / "bench" / "memtrace.py"), args.trace, "serve"]
    with process(upstream_cmd(up_port, 0), env, f"{upstream}/models"):
        base = f"http://127.0.0.1:{port}"
        sb_env = switchboard_env(tmp, port, env, upstream, args.litellm)
        with process(sb_cmd, sb_env, f"{base}/api/health") as sb:
            auth = {"Authorization": f"Bearer {token_for(base, 'bench', 'bench-password')}"}
            return await many_streams(
                base, auth, sb.pid, args.many, args.concurrency, bool(args.trace)
            )


async def bench(args: argparse.Namespace) -> None:
    limit = raise_open_files(4 * args.open + 1024)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    tmp = Path(tempfile.mkdtemp(prefix="sb-streams-bench-"))
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    opened = await open_phase(args, tmp, env) if "open" in args.phases else []
    many = await many_phase(args, tmp, env) if "many" in args.phases else []
    shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\n{started}; 1-minute load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )
    print(f"(open files limit {limit}; answers take {args.seconds:.0f} s)")
    if opened:
        print("| server | streams at once | errors | TTFT p50 ms | last done s | CPU s |", end="")
        print(" RSS before MB | RSS peak MB | RSS after MB |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in opened:
            print(
                f"| {r['target']} | {r['streams']:,} | {r['errors']} | {r['ttft_p50_ms']:.0f} | "
                f"{r['last_done_s']:.1f} | {r['cpu_s']:.1f} | {r['rss_before_mb']:.0f} | "
                f"{r['rss_peak_mb']:.0f} | {r['rss_after_mb']:.0f} |"
            )
    if many:
        print("| streams so far | RSS MB | errors |")
        print("| ---: | ---: | ---: |")
        for count, rss, errors in many:
            print(f"| {count:,} | {rss:.0f} | {errors} |")


def main() -> None:
    # `timeout` and friends stop with SIGTERM: exit through the context managers, which stop
    # the servers this started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--open", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--many", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--proxy", action="store_true", help="also LiteLLM Proxy (open phase)")
    parser.add_argument("--chat", action="store_true", help="also as chat turns (open phase)")
    parser.add_argument("--trace", default="", help="many: tracemalloc snapshots into DIR")
    parser.add_argument("--phases", nargs="+", default=["open", "many"], choices=["open", "many"])
    parser.add_argument(
        "--litellm", action="store_true", help="add a model that needs LiteLLM (mock_response)"
    )
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
