"""A fresh server's first answer against its tenth: time to the first streamed token, and memory.

Each run starts the lean upstream (bench/upstream.py) and `switchboard serve` as `make run` does
(one worker, a fresh data directory, SQLite, the default embedding backend, a models file whose
`chunks-20` model is the upstream), polls `/api/ready` until it answers 200 (the moment the
server is ready), then:
  now   — logs in at once, makes an API token and sends ten chat answers (each the first turn of
          a new chat: the same work every time, title call included), one after another;
  idle  — logs in, waits until --idle seconds after ready (a person opening the page and
          typing), noting when /metrics first shows the gateway warm, then the same;
  cold  — as idle with the warm start off (SWITCHBOARD_WARM_START=false): memory before any
          warm-up, and what the first answer then costs;
  signin — the default warm start (SWITCHBOARD_WARM_START=sign-in): nobody signs in until
          --idle seconds after ready (memory of an unused server), then one logs in (which starts
          the warm-up), types for --idle seconds and sends (`now` and `idle` warm at start-up).
Printed per run: start-up (spawn to ready), resident memory at ready (the warm-up has just
begun), once warmed up (idle), after the idle wait, after answer 1 and after the ten answers,
the server's CPU seconds at ready and before the first answer, time to the first token
(`event: delta`) of answer 1, answer 10 and the median of answers 2-10 (from the message's
POST), and, for `now`, from ready to answer 1's first token (login included), and whether
LiteLLM was loaded at the end (`switchboard_litellm_loaded`). The catalog's one model is called
directly (no LiteLLM); `--litellm` adds a `demo` model that LiteLLM answers itself
(`mock_response` on an `anthropic/` model, which the gateway leaves to LiteLLM), so the warm-up
loads LiteLLM too; `--demo` adds `make run`'s own `demo` model from models.yaml (its fixed
answer given by the gateway, without LiteLLM, since mock_answers.py).

    .venv/bin/python bench/first_token.py [--runs 3] [--idle 10] [--scenario now idle cold signin]
        [--litellm | --demo]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `bench.load` is found from the repository root

from bench.gateway import catalog_yaml, free_port, process  # noqa: E402
from bench.load import cpu_seconds, rss_mb, stream_once  # noqa: E402

ANSWERS = 10
MODEL = "chunks-20"
ADMIN, PASSWORD = "bench", "bench-password"


@dataclass
class Run:
    """One fresh server's figures (seconds, MB, ms)."""

    scenario: str
    start_s: float = 0.0
    rss_ready: float = 0.0
    rss_warm: float = float("nan")  # when /metrics first showed LiteLLM loaded (`idle`)
    rss_idle: float = float("nan")
    rss_first: float = 0.0
    rss_after: float = 0.0
    cpu_ready: float = 0.0
    cpu_before_first: float = 0.0
    ready_to_first_ms: float = 0.0
    warm_s: float = float("nan")  # ready (or sign-in) to warm (/metrics), in `idle`/`signin`
    litellm: bool = False  # LiteLLM loaded at the end of the run (/metrics)
    ttft_ms: list[float] = field(default_factory=list)


WARM_START = {"now": "start", "idle": "start", "cold": "off", "signin": "sign-in"}


async def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    """Poll `/api/ready` every 10 ms until it answers 200."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("switchboard serve exited")
            try:
                async with client.get(url + "/api/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.01)
    raise RuntimeError(f"{url} did not become ready")


async def token(base: str) -> dict[str, str]:
    """Log in and make an API token; its header."""
    timeout = aiohttp.ClientTimeout(total=120)
    jar = aiohttp.CookieJar(unsafe=True)  # the session cookie of 127.0.0.1
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=jar) as client:
        login = await client.post(
            base + "/api/auth/login", json={"username": ADMIN, "password": PASSWORD}
        )
        csrf = {"X-CSRF-Token": (await login.json())["csrfToken"]}
        made = await client.post(base + "/api/api-tokens", json={"name": "b"}, headers=csrf)
        return {"Authorization": f"Bearer {(await made.json())['token']}"}


def with_litellm_model(catalog: str) -> str:
    """The bench's catalog (JSON) plus `demo`, a model LiteLLM answers itself (`mock_response`
    on an `anthropic/` model: the gateway gives only an `openai/` one's answer itself): the
    warm-up then loads LiteLLM and its router."""
    raw = json.loads(catalog)
    demo = {"model": "anthropic/demo", "api_key": "none", "mock_response": "Hello."}
    raw["model_list"].append({"model_name": "demo", "litellm_params": demo})
    return json.dumps(raw)


def with_default_demo(catalog: str) -> str:
    """The bench's catalog (JSON) plus `make run`'s `demo` model, as models.yaml has it."""
    import yaml

    raw, shipped = json.loads(catalog), yaml.safe_load((ROOT / "models.yaml").read_text())
    raw["model_list"] += [e for e in shipped["model_list"] if e["model_name"] == "demo"]
    return json.dumps(raw)


async def litellm_loaded(base: str, auth: dict[str, str]) -> bool:
    """Whether the server says LiteLLM is loaded (`switchboard_litellm_loaded 1.0`)."""
    async with (
        aiohttp.ClientSession() as client,
        client.get(base + "/metrics", headers=auth) as response,
    ):
        return "switchboard_litellm_loaded 1.0" in await response.text()


async def warmed(base: str, auth: dict[str, str], seconds: float) -> float:
    """Poll /metrics until the gateway is warm (`switchboard_model_gateway_state 2.0`), at most
    `seconds`; returns when it was (perf_counter), or NaN (not within `seconds`, or a server
    without the gauge)."""
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession() as client:
        while time.perf_counter() < deadline:
            async with client.get(base + "/metrics", headers=auth) as response:
                if "switchboard_model_gateway_state 2.0" in await response.text():
                    return time.perf_counter()
            await asyncio.sleep(0.1)
    return float("nan")


async def answers(base: str, auth: dict[str, str], run: Run, pid: int) -> float:
    """ANSWERS chat answers in new chats, their TTFTs in ms into `run` (and the server's RSS
    after answer 1); returns when answer 1's first token came (perf_counter)."""
    timeout = aiohttp.ClientTimeout(total=120)
    ttfts: list[float] = []
    first_at = 0.0
    async with aiohttp.ClientSession(timeout=timeout) as client:
        for _ in range(ANSWERS):
            chat = await client.post(base + "/api/chats", json={"model": MODEL}, headers=auth)
            chat_id = (await chat.json())["id"]
            url = f"{base}/api/chats/{chat_id}/messages"
            turn = {"content": "Say something.", "stream": True}
            sent = time.perf_counter()
            ttfts.append(await stream_once(client, url, turn, auth, (b"event: delta",)))
            if not first_at:
                first_at, run.rss_first = sent + ttfts[0] / 1000, rss_mb(pid)
    run.ttft_ms = ttfts
    return first_at


async def one_run(
    scenario: str,
    idle: float,
    upstream: str,
    env: dict[str, str],
    litellm: bool = False,
    demo: bool = False,
) -> Run:
    tmp = Path(tempfile.mkdtemp(prefix="sb-first-"))
    port = free_port()
    catalog = catalog_yaml(upstream, [20])
    catalog = with_default_demo(catalog) if demo else catalog
    (tmp / "models.yaml").write_text(with_litellm_model(catalog) if litellm else catalog)
    sb_env = {
        **env,
        "SWITCHBOARD_DATA_DIR": str(tmp / "data"),
        "SWITCHBOARD_MODELS": str(tmp / "models.yaml"),
        "SWITCHBOARD_ADMIN_USERNAME": ADMIN,
        "SWITCHBOARD_ADMIN_PASSWORD": PASSWORD,
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_PORT": str(port),
        "SWITCHBOARD_WARM_START": WARM_START[scenario],
    }
    base = f"http://127.0.0.1:{port}"
    run = Run(scenario)
    cmd = [str(ROOT / ".venv" / "bin" / "switchboard"), "serve"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=sb_env, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        await wait_ready(base, proc)
        ready = time.perf_counter()
        run.start_s = ready - started
        run.rss_ready, run.cpu_ready = rss_mb(proc.pid), cpu_seconds(proc.pid)
        if scenario == "signin":  # nobody signed in yet: the unused server's memory
            await asyncio.sleep(max(0.0, ready + idle - time.perf_counter()))
            run.rss_idle = rss_mb(proc.pid)
            ready = time.perf_counter()  # from here: the person signs in, then types
        auth = await token(base)
        if scenario in ("idle", "signin"):
            run.warm_s = await warmed(base, auth, idle) - ready
            run.rss_warm = rss_mb(proc.pid)
        if scenario in ("idle", "cold"):
            await asyncio.sleep(max(0.0, ready + idle - time.perf_counter()))
            run.rss_idle = rss_mb(proc.pid)
        elif scenario == "signin":
            await asyncio.sleep(max(0.0, ready + idle - time.perf_counter()))
        run.cpu_before_first = cpu_seconds(proc.pid)
        first_at = await answers(base, auth, run, proc.pid)
        run.ready_to_first_ms = (first_at - ready) * 1000
        run.rss_after = rss_mb(proc.pid)
        run.litellm = await litellm_loaded(base, auth)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    return run


async def bench(args: argparse.Namespace) -> list[Run]:
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    lean = [sys.executable, str(ROOT / "bench" / "upstream.py"), "--port", str(up_port)]
    runs = []
    with process(lean, env, f"{upstream}/models"):
        for _ in range(args.runs):
            for scenario in args.scenario:
                run = await one_run(scenario, args.idle, upstream, env, args.litellm, args.demo)
                runs.append(run)
                print_run(runs[-1])
    return runs


def print_run(run: Run) -> None:
    rest = statistics.median(run.ttft_ms[1:])
    print(
        f"  {run.scenario:6}: ready in {run.start_s:.2f} s; RSS ready {run.rss_ready:.0f} MB, "
        f"warm {run.rss_warm:.0f}, idle {run.rss_idle:.0f}, after answer 1 {run.rss_first:.0f}, "
        f"after 10 {run.rss_after:.0f}; CPU s at ready {run.cpu_ready:.2f}, "
        f"before answer 1 {run.cpu_before_first:.2f}; TTFT answer 1 {run.ttft_ms[0]:.1f} ms, "
        f"answer 10 {run.ttft_ms[-1]:.1f}, median 2-10 {rest:.1f}; ready to answer 1's first "
        f"token {run.ready_to_first_ms:.0f} ms; warm {run.warm_s:.1f} s after ready (or "
        f"sign-in); LiteLLM loaded at the end: {'yes' if run.litellm else 'no'}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds idle before `idle`")
    parser.add_argument("--scenario", nargs="+", choices=list(WARM_START), default=list(WARM_START))
    parser.add_argument(
        "--litellm", action="store_true", help="add a model that needs LiteLLM (mock_response)"
    )
    parser.add_argument("--demo", action="store_true", help="add models.yaml's demo model")
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {_commit()}", flush=True)
    load = os.getloadavg()[0]
    runs = asyncio.run(bench(args))
    print(f"(1-minute load average at start: {load:.1f}; at end: {os.getloadavg()[0]:.1f})")
    for scenario in args.scenario:
        mine = [r for r in runs if r.scenario == scenario]
        first = statistics.median(r.ttft_ms[0] for r in mine)
        tenth = statistics.median(r.ttft_ms[-1] for r in mine)
        rss = {
            name: statistics.median(getattr(r, f"rss_{name}") for r in mine)
            for name in ("ready", "warm", "idle", "first", "after")
        }
        print(
            f"{scenario}: medians over {len(mine)} runs: TTFT answer 1 {first:.1f} ms, "
            f"answer 10 {tenth:.1f} ms; RSS MB ready {rss['ready']:.0f}, warmed up "
            f"{rss['warm']:.0f}, idle {rss['idle']:.0f}, after answer 1 {rss['first']:.0f}, "
            f"after 10 {rss['after']:.0f}"
        )


def _commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.strip()


if __name__ == "__main__":
    main()
