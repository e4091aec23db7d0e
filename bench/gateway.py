"""What Switchboard adds to streaming: time to first token and streams/s, against the direct call.

One invocation starts an upstream and Switchboard (`switchboard serve`, SQLite, one worker) as
separate processes on 127.0.0.1 and measures, at each concurrency and answer length:
  direct  — the upstream called straight (the floor),
  relay   — a bare parsing relay (bench/bare_relay.py: Starlette + aiohttp, each SSE chunk parsed
            as JSON, no auth, billing or logging), the reference target for `v1`,
  v1      — Switchboard's /v1/chat/completions, streaming,
  messages — Switchboard's /v1/messages (Anthropic's Messages API over the same model), streaming,
             the request shaped as Claude Code sends it (bench/claude_code.py),
  chat    — Switchboard's chat SSE endpoint: a full turn (auth, history, admission, persistence,
            settlement),
  proxy   — LiteLLM Proxy with the same model, when --proxy is given (installed into its own
            virtualenv under bench/.proxy-venv on first use; no database, one worker), on
            /v1/chat/completions and (`proxy-messages`) on its /v1/messages.
The upstream is bench/upstream.py (lean asyncio, pre-rendered answers of exactly N chunks;
`--write-each` writes each chunk separately) or, with `--upstream fake`, the test fake.
Figures printed: streams/s, TTFT p50/p95/p99 (ms), added p50 over direct, the ratios against
LiteLLM Proxy and the relay, CPU ms per stream of the server measured, and each server's
resident memory.
The client is aiohttp in this process. All load is on loopback, bounded by --requests.

    .venv/bin/python bench/gateway.py [--requests 300] [--concurrency 1 32 128]
        [--chunks 20 200] [--proxy] [--upstream lean|fake] [--write-each]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `bench.load` is found from the repository root

from bench.claude_code import claude_code_body, claude_code_headers  # noqa: E402
from bench.load import Result, measured, rss_mb, stream_once  # noqa: E402

PROXY_VENV = ROOT / "bench" / ".proxy-venv"
TURNS_PER_CHAT = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def process(cmd: list[str], env: dict[str, str], health: str) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, up once `health` answers; its stderr goes to a file (a pipe nobody
    reads fills up and stalls the server on a long run), shown if it fails to start."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        try:
            try:
                wait_http(health)
            except RuntimeError:
                log.seek(0)
                sys.stderr.write(log.read()[-4000:].decode(errors="replace"))
                raise
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def catalog_yaml(upstream: str, chunk_counts: list[int]) -> str:
    entries = []
    for n in chunk_counts:
        entries.append(
            {
                "model_name": f"chunks-{n}",
                "litellm_params": {
                    "model": f"openai/chunks-{n}",
                    "api_base": upstream,
                    "api_key": "bench",
                },
                "model_info": {
                    "input_cost_per_token": 1e-6,
                    "output_cost_per_token": 2e-6,
                    "max_input_tokens": 8192,
                    "max_output_tokens": 1024,
                },
            }
        )
    return json.dumps({"model_list": entries, "router_settings": {"num_retries": 0}})


def served_env(env: dict[str, str], tmp: Path, catalog: str, port: int) -> dict[str, str]:
    """`switchboard serve`'s settings for a bench: a fresh data directory and `catalog` as its
    models under `tmp`, the bench's admin, quiet logs, `port`."""
    (tmp / "models.yaml").write_text(catalog)
    return {
        **env,
        "SWITCHBOARD_DATA_DIR": str(tmp / "data"),
        "SWITCHBOARD_MODELS": str(tmp / "models.yaml"),
        "SWITCHBOARD_ADMIN_USERNAME": "bench",
        "SWITCHBOARD_ADMIN_PASSWORD": "bench-password",
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_PORT": str(port),
    }


def token_for(base: str, user: str, password: str) -> str:
    with httpx.Client(base_url=base, timeout=30) as client:
        login = client.post("/api/auth/login", json={"username": user, "password": password})
        login.raise_for_status()
        csrf = {"X-CSRF-Token": login.json()["csrfToken"]}
        return str(
            client.post("/api/api-tokens", json={"name": "bench"}, headers=csrf).json()["token"]
        )


def ensure_proxy_venv() -> Path:
    """LiteLLM Proxy in its own virtualenv (pip from the package registry), made once."""
    python = PROXY_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PROXY_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "litellm[proxy]"], check=True)
    return PROXY_VENV / "bin" / "litellm"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32, 128])
    parser.add_argument("--chunks", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--proxy", action="store_true", help="also measure LiteLLM Proxy")
    parser.add_argument("--upstream", choices=["lean", "fake"], default="lean")
    parser.add_argument("--write-each", action="store_true", help="lean upstream: a write/chunk")
    args = parser.parse_args()
    asyncio.run(bench(args))


def upstream_command(args: argparse.Namespace, port: int) -> list[str]:
    """The upstream's command line."""
    if args.upstream == "fake":
        return [sys.executable, "-m", "tests.fakes.upstream", "--port", str(port)]
    lean = [sys.executable, str(ROOT / "bench" / "upstream.py"), "--port", str(port)]
    return lean + (["--write-each"] if args.write_each else [])


async def bench(args: argparse.Namespace) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    up_port, sb_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    sb_env = served_env(env, tmp, catalog_yaml(upstream, args.chunks), sb_port)
    sb_cmd = [str(ROOT / ".venv" / "bin" / "switchboard"), "serve"]
    results: list[Result] = []
    memory: dict[str, float] = {}
    load = os.getloadavg()[0]
    with process(upstream_command(args, up_port), env, f"{upstream}/models") as up:
        results += await measure_relay(upstream, env, args)
        with process(sb_cmd, sb_env, f"http://127.0.0.1:{sb_port}/api/health") as sb:
            base = f"http://127.0.0.1:{sb_port}"
            memory["switchboard (idle)"] = rss_mb(sb.pid)
            token = token_for(base, "bench", "bench-password")
            auth = {"Authorization": f"Bearer {token}"}
            for chunks in args.chunks:
                for concurrency in args.concurrency:
                    results += await measure_switchboard(
                        base, upstream, auth, chunks, concurrency, args.requests, (up.pid, sb.pid)
                    )
            memory["switchboard (after load)"] = rss_mb(sb.pid)
        if args.proxy:
            results += await measure_proxy(tmp, upstream, env, args, memory)
    shutil.rmtree(tmp, ignore_errors=True)
    report(results, memory)
    print(f"(1-minute load average at start: {load:.1f}; at end: {os.getloadavg()[0]:.1f})")


async def measure_switchboard(
    base: str,
    upstream: str,
    auth: dict[str, str],
    chunks: int,
    concurrency: int,
    requests: int,
    pids: tuple[int, int],
) -> list[Result]:
    model = f"chunks-{chunks}"
    body = {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "Say something."}],
    }

    async def direct(client: aiohttp.ClientSession) -> float:
        return await stream_once(client, upstream + "/chat/completions", body, {})

    async def v1(client: aiohttp.ClientSession) -> float:
        return await stream_once(client, base + "/v1/chat/completions", body, auth)

    claude = claude_code_headers(auth["Authorization"].removeprefix("Bearer "))

    async def messages(client: aiohttp.ClientSession) -> float:
        url = base + "/v1/messages"
        return await stream_once(client, url, claude_code_body(model), claude, TEXT_DELTA)

    # Chats of at most TURNS_PER_CHAT turns, one turn at a time per chat, as people chat: the
    # history a turn loads and trims stays the size of a real conversation's.
    free: asyncio.Queue[str] = asyncio.Queue()
    turns: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=60) as setup:
        for _ in range(concurrency + (requests + 20) // TURNS_PER_CHAT + 1):
            chat_id = (await setup.post("/api/chats", json={"model": model})).json()["id"]
            free.put_nowait(chat_id)

    async def chat(client: aiohttp.ClientSession) -> float:
        chat_id = await free.get()
        try:
            url = f"{base}/api/chats/{chat_id}/messages"
            turn = {"content": "Say something.", "stream": True}
            return await stream_once(client, url, turn, auth)
        finally:
            turns[chat_id] = turns.get(chat_id, 0) + 1
            if turns[chat_id] < TURNS_PER_CHAT:
                free.put_nowait(chat_id)

    upstream_pid, switchboard_pid = pids
    return [
        await measured("direct", direct, upstream_pid, chunks, concurrency, requests),
        await measured("v1", v1, switchboard_pid, chunks, concurrency, requests),
        await measured("chat", chat, switchboard_pid, chunks, concurrency, requests),
        await measured("messages", messages, switchboard_pid, chunks, concurrency, requests),
    ]


async def measure_relay(
    upstream: str, env: dict[str, str], args: argparse.Namespace
) -> list[Result]:
    """The bare parsing relay (bench/bare_relay.py): the reference target, no auth or billing."""
    port = free_port()
    cmd = [sys.executable, str(ROOT / "bench" / "bare_relay.py"), "--port", str(port)]
    cmd += ["--upstream", upstream]
    out = []
    with process(cmd, env, f"http://127.0.0.1:{port}/v1/models") as relay:
        for chunks in args.chunks:
            body = {
                "model": f"chunks-{chunks}",
                "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "Say something."}],
            }

            async def call(client: aiohttp.ClientSession, body: dict[str, Any] = body) -> float:
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                return await stream_once(client, url, body, {})

            for concurrency in args.concurrency:
                out.append(
                    await measured("relay", call, relay.pid, chunks, concurrency, args.requests)
                )
    return out


TEXT_DELTA = (b'"text_delta"',)  # Anthropic's first token (message_start holds "content":[])


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
    raw = json.loads(catalog_yaml(upstream, args.chunks))
    # Its /v1/messages would take an OpenAI model to the upstream's /v1/responses, which the
    # lean upstream (like most OpenAI-compatible servers) does not have: chat completions, as ours.
    raw["litellm_settings"] = {"use_chat_completions_url_for_anthropic_messages": True}
    config.write_text(json.dumps(raw))
    cmd = [str(litellm_bin), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    key = "sk-bench-" + os.urandom(16).hex()  # the proxy refuses to start without a master key
    auth = {"Authorization": f"Bearer {key}"}
    out = []
    proxy_env = {**env, "LITELLM_MASTER_KEY": key}
    with process(cmd, proxy_env, f"http://127.0.0.1:{port}/health/liveliness") as proxy:
        memory["litellm proxy (idle)"] = rss_mb(proxy.pid)
        for chunks in args.chunks:
            body = {
                "model": f"chunks-{chunks}",
                "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "Say something."}],
            }

            async def call(client: aiohttp.ClientSession, body: dict[str, Any] = body) -> float:
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                return await stream_once(client, url, body, auth)

            async def messages(
                client: aiohttp.ClientSession, model: str = f"chunks-{chunks}"
            ) -> float:
                url = f"http://127.0.0.1:{port}/v1/messages"
                claude = claude_code_headers(key)
                return await stream_once(client, url, claude_code_body(model), claude, TEXT_DELTA)

            for concurrency in args.concurrency:
                out.append(
                    await measured("proxy", call, proxy.pid, chunks, concurrency, args.requests)
                )
                out.append(
                    await measured(
                        "proxy-messages", messages, proxy.pid, chunks, concurrency, args.requests
                    )
                )
        memory["litellm proxy (after load)"] = rss_mb(proxy.pid)
    return out


def report(results: list[Result], memory: dict[str, float]) -> None:
    print(
        f"{'target':14} {'conc':>4} {'chunks':>6} {'streams/s':>10} {'ttft p50':>9} "
        f"{'p95':>8} {'p99':>8} {'+p50 vs direct':>15} {'x proxy':>8} {'x relay':>8} "
        f"{'cpu ms':>7} {'errors':>6}"
    )
    for r in results:
        direct = _twin(results, r, "direct")
        proxy = _twin(results, r, "proxy-messages" if r.target == "messages" else "proxy")
        added = f"{r.pct(0.5) - direct.pct(0.5):+.1f} ms" if direct and r is not direct else ""
        theirs = proxy and not r.target.startswith("proxy")
        ratio = f"{r.streams_per_s / proxy.streams_per_s:.2f}" if proxy and theirs else ""
        relay = _twin(results, r, "relay")
        mine = relay and r.target in ("v1", "chat", "messages")
        of_relay = f"{r.streams_per_s / relay.streams_per_s:.2f}" if relay and mine else ""
        print(
            f"{r.target:14} {r.concurrency:>4} {r.chunks:>6} {r.streams_per_s:>10.1f} "
            f"{r.pct(0.5):>9.1f} {r.pct(0.95):>8.1f} {r.pct(0.99):>8.1f} {added:>15} "
            f"{ratio:>8} {of_relay:>8} {r.cpu_ms:>7.2f} {r.errors:>6}"
        )
    for name, mb in memory.items():
        print(f"resident memory, {name}: {mb:.0f} MB")
    median = statistics.median([r.pct(0.5) for r in results])
    print(f"(median of TTFT across all rows: {median:.1f} ms; cpu ms = the measured server's CPU")
    print(" time per stream: the upstream's for direct, the relay's for relay, Switchboard's for")
    print(" v1/chat/messages; x relay = streams/s over the bare parsing relay's)")


def _twin(results: list[Result], row: Result, target: str) -> Result | None:
    return next(
        (
            r
            for r in results
            if r.target == target and r.concurrency == row.concurrency and r.chunks == row.chunks
        ),
        None,
    )


if __name__ == "__main__":
    main()
