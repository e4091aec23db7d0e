"""Where a `/v1/chat/completions` stream's CPU goes in `switchboard serve` (SQLite, one worker).

Starts the lean upstream and Switchboard as bench/gateway.py does, warms up, then streams
`--requests` 20-chunk answers at `--concurrency` and prints the server's CPU ms a stream (from
/proc). With `--py-spy FILE` it samples the server meanwhile (`py-spy record --gil -f raw`: the
Python frames of the thread holding the GIL; install py-spy into the virtualenv to measure, it is
no dependency) and prints the samples grouped by what the stream was doing, each share also as
ms of the measured CPU. `--rounds N` repeats the measured load (CPU only, one profile).

    .venv/bin/pip install py-spy
    .venv/bin/python bench/v1_profile.py --requests 5000 --py-spy /tmp/v1.txt
    .venv/bin/python bench/v1_profile.py --rounds 3          # CPU ms a stream only

py-spy reads wall time while a frame holds the GIL: a SQLite commit (which lets the GIL go) is
mostly left out, a socket write (which does not) is counted in full. `perf record -g -p PID`
gives the native split (interpreter, kernel, SQLite) the table cannot.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gateway import catalog_yaml, free_port, process, served_env, token_for  # noqa: E402
from bench.load import cpu_seconds, run_load, stream_once  # noqa: E402

# What a sample was doing: the innermost frame that names one of these wins.
PHASES: list[tuple[str, tuple[str, ...]]] = [
    (
        "auth (token cache, identity epoch)",
        ("_authenticate (api/body_limits", "(api/deps.py", "AuthCache", "auth_epoch.py"),
    ),
    (
        "settlement (ledger row, release)",
        (
            "settle (billing/ledger",
            "MeteredCall.settle",
            "shielded (assistant/gateway/metering",
            "one_trip",
        ),
    ),
    ("admission (billing)", ("admit (billing/admission", "MeteredCall.admit", "_Attempt")),
    ("prompt token count", ("count_messages", "count_text")),
    ("model and body (Passthrough.admit)", ("Passthrough.admit",)),
    (
        "upstream call opened (aiohttp request)",
        (
            "Relay.stream",
            "Gateway.stream",
            "ClientSession._request",
            "write_bytes",
            "ClientResponse.start",
            "Passthrough.stream",
        ),
    ),
    ("upstream read (aiohttp)", ("ResponseHandler.data_received", "StreamReader", "iter_any")),
    ("chunk parse (JSON, Chunk)", ("_parse_events", "parse_chunk", "chunk_json")),
    (
        "relay generators (batches, metering, OpenAI JSON, SSE frames)",
        (
            "ChunkStream.batches",
            "_relay (assistant/gateway",
            "_as_openai",
            "_as_json",
            "_frames (api/routes/openai",
        ),
    ),
    ("SSE response (FramedStream, disconnect watch)", ("FramedStream", "_disconnect_of")),
    ("socket writes (uvicorn send)", ("RequestResponseCycle.send", "on_response_complete")),
    (
        "middleware send wrappers",
        (
            "timed_send",
            "send_with_id",
            "send_with_context",
            "tracked_send",
            "_Counted.send",
            ".sender (starlette",
            "._send (starlette",
        ),
    ),
    (
        "FastAPI body, validation, dependencies",
        (
            "solve_dependencies",
            "get_request_handler",
            "request_body_to_args",
            "run_endpoint_function",
            "Request.body",
            "Request.json",
        ),
    ),
    (
        "routing",
        ("Router.__call__", "_IncludedRouter", "APIRouter", "APIRoute", "request_response"),
    ),
    (
        "middleware (own work)",
        (
            "Middleware.__call__",
            "RequestContext",
            "TrustedProxies",
            "_Counted",
            "RefuseWhileDraining",
            "wrap_app_handling_exceptions",
            "FastAPI.__call__",
            "Starlette.__call__",
        ),
    ),
    ("uvicorn HTTP parsing", ("httptools_impl",)),
]


def phase_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, marks in PHASES:
            if any(mark in frame for mark in marks):
                return name
    return "event loop, other"


def report(path: str, cpu_ms: float) -> None:
    """The samples of a raw py-spy file grouped by phase (idle pool workers left out)."""
    phases: collections.Counter[str] = collections.Counter()
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if frames[-1].startswith("_worker (concurrent/futures/thread.py"):
            continue  # a pool thread waiting for work
        phases[phase_of(frames)] += int(count)
    total = sum(phases.values()) or 1
    print(f"{'phase':62} {'share':>6} {'ms':>6}  ({total} samples)")
    for name, n in phases.most_common():
        print(f"{name:62} {100 * n / total:5.1f}% {cpu_ms * n / total:6.2f}")


async def main(args: argparse.Namespace) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    up_port, port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    tmp = Path(tempfile.mkdtemp(prefix="sb-v1-profile-"))
    served = served_env(env, tmp, catalog_yaml(upstream, [20]), port)
    body = {
        "model": "chunks-20",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "Say something."}],
    }
    lean = [sys.executable, str(ROOT / "bench" / "upstream.py"), "--port", str(up_port)]
    serve = [str(ROOT / ".venv" / "bin" / "switchboard"), "serve"]
    with (
        process(lean, env, f"{upstream}/models"),
        process(serve, served, f"http://127.0.0.1:{port}/api/health") as server,
    ):
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {token_for(base, 'bench', 'bench-password')}"}

        async def v1(client: aiohttp.ClientSession) -> float:
            return await stream_once(client, base + "/v1/chat/completions", body, auth)

        await run_load(v1, 200, args.concurrency)
        for round_ in range(args.rounds):
            spy = None
            if args.py_spy and round_ == 0:
                spy = subprocess.Popen(
                    [
                        str(ROOT / ".venv" / "bin" / "py-spy"),
                        "record",
                        "--pid",
                        str(server.pid),
                        "--gil",
                        "-r",
                        "250",
                        "-f",
                        "raw",
                        "-o",
                        args.py_spy,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1.0)  # attached before the load starts
            before = cpu_seconds(server.pid)
            rate, ttfts, errors = await run_load(v1, args.requests, args.concurrency, 120)
            cpu_ms = (cpu_seconds(server.pid) - before) * 1000 / max(1, len(ttfts))
            print(
                f"round {round_ + 1}: {rate:.1f} streams/s, {cpu_ms:.3f} CPU ms a stream, "
                f"{errors} errors (1-minute load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            if spy is not None:
                spy.send_signal(2)
                spy.wait()
                report(args.py_spy, cpu_ms)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--py-spy", default="", help="record a py-spy profile to this file")
    asyncio.run(main(parser.parse_args()))
