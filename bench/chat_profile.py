"""Where a chat turn's CPU goes in `switchboard serve` (SQLite, one worker).

A full turn as bench/gateway.py's `chat` rows make it: `POST /api/chats/{id}/messages` with
`stream: true`, chats of at most `TURNS_PER_CHAT` turns, one turn at a time per chat, 20-chunk
answers from the lean upstream. Warms up, then runs `--requests` turns at `--concurrency` and
prints the server's CPU ms a turn (from /proc). With `--py-spy FILE` it samples the server
meanwhile (`py-spy record --gil -f raw`, as bench/v1_profile.py does) and prints the samples
grouped by what the turn was doing, each share also as ms of the measured CPU, then the project's
functions by inclusive share (`--top`). `--rounds N` repeats the measured load (CPU only, one
profile).

`--against DIR` also starts a server from the code in DIR (a git worktree of another commit:
its packages first on the server's Python path) and alternates the rounds between the two,
each on its own data directory, then prints each one's median: both see the same minutes of a
shared machine.

    .venv/bin/python bench/chat_profile.py --requests 2000 --py-spy /tmp/chat.txt
    .venv/bin/python bench/chat_profile.py --rounds 3          # CPU ms a turn only
    .venv/bin/python bench/chat_profile.py --rounds 10 --requests 500 --against /work/abchat

py-spy reads wall time while a frame holds the GIL: a SQLite commit (which lets the GIL go) is
mostly left out, a socket write (which does not) is counted in full. `--no-gil` samples every
busy thread instead, so SQLite's own work (its statements, triggers and commits on the event
loop's thread, `core.inline_sqlite`) is counted where it happens.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gateway import (  # noqa: E402
    TURNS_PER_CHAT,
    catalog_yaml,
    free_port,
    process,
    served_env,
    token_for,
)
from bench.load import cpu_seconds, run_load, stream_once  # noqa: E402

# What a sample was doing: the innermost frame that names one of these wins.
PHASES: list[tuple[str, tuple[str, ...]]] = [
    ("auth (token cache, identity epoch)", ("(api/deps.py", "AuthCache", "auth_epoch.py")),
    ("title of a first turn", ("(assistant/chat/titles.py",)),
    ("settlement (ledger, release)", ("settle (billing/", "MeteredCall.settle", "one_trip")),
    ("admission (billing)", ("admit (billing/", "MeteredCall.admit", "_Attempt")),
    ("turn saved (NewTurn.write)", ("NewTurn.write", "lock_owner")),
    ("final save (Generator._finish)", ("Generator._finish", "save (assistant/chat/gen")),
    ("checkpoint", ("Generator.checkpoint", "_checkpoint (assistant")),
    ("history window read (window.open_turn)", ("open_turn", "_read_turn", "_read_whole")),
    ("history fit, token counts", ("(assistant/chat/history.py", "window.py", "count_")),
    ("persona, attachments, grounding, tools", ("context.py", "attachments/", "grounding.py")),
    ("turn tools (skill_tool)", ("skill_tool.py",)),
    ("run events (Run.follow, catch_up)", ("(assistant/chat/runs.py", "text_buffer.py")),
    ("SSE frames (event_stream)", ("frames (api/sse.py",)),
    ("database (SQLAlchemy, aiosqlite)", ("sqlalchemy/", "aiosqlite/", "core/database.py")),
    (
        "model call opened (aiohttp request)",
        ("Relay.stream", "Gateway.stream", "ClientSession._request", "write_bytes", "start ("),
    ),
    ("upstream read (aiohttp)", ("ResponseHandler.data_received", "StreamReader", "iter_any")),
    ("chunk parse (JSON, Chunk)", ("_parse_events", "parse_chunk", "chunk_json")),
    ("gateway, other", ("(assistant/gateway/",)),
    ("generation loop (Generator._stream)", ("Generator._stream", "Generator.run")),
    ("SSE response (FramedStream, disconnect watch)", ("FramedStream", "_disconnect_of")),
    ("socket writes (uvicorn send)", ("RequestResponseCycle.send", "on_response_complete")),
    ("middleware", ("(api/middleware.py", "(api/body_limits", "starlette/middleware")),
    (
        "FastAPI body, validation, dependencies",
        ("solve_dependencies", "get_request_handler", "request_body_to_args", "Request.json"),
    ),
    ("routing", ("Router.__call__", "APIRoute", "request_response", "starlette/routing")),
    ("uvicorn HTTP parsing", ("httptools_impl",)),
]
PROJECT = re.compile(r"\((?:/[^ ]*/)?((?:api|assistant|billing|core|toolkits|knowledge)/[^:]+):")


def phase_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, marks in PHASES:
            if any(mark in frame for mark in marks):
                return name
    return "event loop, other"


def samples(path: str) -> list[tuple[list[str], int]]:
    """The stacks of a raw py-spy file and their counts (idle pool workers left out)."""
    out = []
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if frames[-1].startswith("_worker (concurrent/futures/thread.py"):
            continue  # a pool thread waiting for work
        out.append((frames, int(count)))
    return out


def report(path: str, cpu_ms: float, top: int) -> None:
    """The samples grouped by phase, then the project's functions by inclusive share."""
    phases: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()
    for frames, count in samples(path):
        phases[phase_of(frames)] += count
        seen = {re.sub(r":\d+\)$", ")", f) for f in frames if PROJECT.search(f)}
        for name in seen:
            functions[name] += count
    total = sum(phases.values()) or 1
    print(f"{'phase':62} {'share':>6} {'ms':>6}  ({total} samples)")
    for name, n in phases.most_common():
        print(f"{name:62} {100 * n / total:5.1f}% {cpu_ms * n / total:6.2f}")
    print(f"\n{'project function (inclusive)':90} {'share':>6} {'ms':>6}")
    for name, n in functions.most_common(top):
        print(f"{name[:90]:90} {100 * n / total:5.1f}% {cpu_ms * n / total:6.2f}")


@dataclass
class Served:
    """A `switchboard serve` under test: its process, and a turn in one of its chats."""

    name: str
    pid: int
    turn: Callable[[aiohttp.ClientSession], Awaitable[float]]


@contextlib.asynccontextmanager
async def served(
    name: str, code: str, upstream: str, env: dict[str, str], chats: int
) -> AsyncIterator[Served]:
    """Switchboard from the code in `code` ("": this tree) on a fresh data directory, with
    `chats` chats of the bench's model, each given at most `TURNS_PER_CHAT` turns."""
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="sb-chat-profile-"))
    settings = served_env(env, tmp, catalog_yaml(upstream, [20]), port)
    if code:  # the other tree's packages first on the server's path (its .venv is this one)
        settings["PYTHONPATH"] = code
    serve = [str(ROOT / ".venv" / "bin" / "switchboard"), "serve"]
    with process(serve, settings, f"http://127.0.0.1:{port}/api/health") as server:
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {token_for(base, 'bench', 'bench-password')}"}
        free: asyncio.Queue[str] = asyncio.Queue()
        turns: dict[str, int] = {}
        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=60) as setup:
            for _ in range(chats):
                chat_id = (await setup.post("/api/chats", json={"model": "chunks-20"})).json()["id"]
                free.put_nowait(chat_id)

        async def turn(client: aiohttp.ClientSession) -> float:
            chat_id = await free.get()
            try:
                url = f"{base}/api/chats/{chat_id}/messages"
                body = {"content": "Say something.", "stream": True}
                return await stream_once(client, url, body, auth)
            finally:
                turns[chat_id] = turns.get(chat_id, 0) + 1
                if turns[chat_id] < TURNS_PER_CHAT:
                    free.put_nowait(chat_id)

        yield Served(name, server.pid, turn)
    shutil.rmtree(tmp, ignore_errors=True)


def py_spy(pid: int, path: str, gil: bool) -> subprocess.Popen[bytes]:
    """py-spy recording the process `pid` into `path` (raw), attached before it returns."""
    spy = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "py-spy"), "record", "--pid", str(pid)]
        + (["--gil"] if gil else [])
        + ["-r", "250", "-f", "raw", "-o", path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    return spy


async def measure(server: Served, requests: int, concurrency: int) -> float:
    """One round of turns; prints it and returns the server's CPU ms a turn."""
    before = cpu_seconds(server.pid)
    rate, ttfts, errors = await run_load(server.turn, requests, concurrency, 120)
    cpu_ms = (cpu_seconds(server.pid) - before) * 1000 / max(1, len(ttfts))
    print(
        f"{server.name}: {rate:.1f} turns/s, {cpu_ms:.3f} CPU ms a turn, {errors} errors "
        f"(1-minute load {os.getloadavg()[0]:.2f})",
        flush=True,
    )
    return cpu_ms


async def main(args: argparse.Namespace) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    lean = [sys.executable, str(ROOT / "bench" / "upstream.py"), "--port", str(up_port)]
    warm = 100
    chats = args.concurrency + (warm + args.requests * args.rounds) // TURNS_PER_CHAT + 2
    codes = [("this tree", "")] + ([(args.against, args.against)] if args.against else [])
    with process(lean, env, f"{upstream}/models"):
        async with contextlib.AsyncExitStack() as stack:
            servers = [
                await stack.enter_async_context(served(name, code, upstream, env, chats))
                for name, code in codes
            ]
            for server in servers:
                await run_load(server.turn, warm, args.concurrency)
            cpu: dict[str, list[float]] = {s.name: [] for s in servers}
            for round_ in range(args.rounds):
                # Alternated, the first server first in odd rounds: both see the same minutes.
                for server in servers if round_ % 2 == 0 else servers[::-1]:
                    spy = None
                    if args.py_spy and round_ == 0 and server is servers[0]:
                        spy = py_spy(server.pid, args.py_spy, args.gil)
                    cpu[server.name].append(await measure(server, args.requests, args.concurrency))
                    if spy is not None:
                        spy.send_signal(2)
                        spy.wait()
                        report(args.py_spy, cpu[server.name][-1], args.top)
            for name, figures in cpu.items():
                print(f"{name}: median {statistics.median(figures):.3f} CPU ms a turn", end="")
                print(f" over {len(figures)} rounds ({min(figures):.3f}-{max(figures):.3f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--top", type=int, default=40, help="project functions listed")
    parser.add_argument(
        "--against",
        default="",
        help="another tree of the code (a git worktree): its server too, rounds alternated",
    )
    parser.add_argument(
        "--gil",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sample only the thread holding the GIL (--no-gil: every busy thread, so time in "
        "SQLite, which lets the GIL go, is counted)",
    )
    parser.add_argument("--py-spy", default="", help="record a py-spy profile to this file")
    asyncio.run(main(parser.parse_args()))
