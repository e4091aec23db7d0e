"""The load generators of bench/scaling.py: wrk (compiled, ~0.15 ms of CPU a stream) or, where
wrk is not installed, the Python client of bench/load.py (aiohttp, ~1-2 ms a stream).

Either keeps `concurrency` streams open for `seconds` while the bench measures a window inside
that time (streams/s from the rows the server wrote, CPU from /proc), so the streams cut off at
the end or still starting at the beginning count in no figure. `cpu()` is the load generator's
CPU seconds so far: the bench prints what it took of the cores it shares with the server. wrk is
Debian's `wrk` package (`apt-get install -y wrk`); its script, bench/scaling.lua, sends the body
and the bearer token and counts the streams that end with `data: [DONE]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import run_load, stream_once

SCRIPT = Path(__file__).with_name("scaling.lua")
TICK = os.sysconf("SC_CLK_TCK")


def choose(name: str) -> str:
    """`auto`: wrk when it is installed, else the Python client."""
    if name == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if name == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or --client python)")
    return name


def _cpu(path: str) -> float:
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Running:
    """A load generator at work: `cpu()` so far, then `finish()` for its errors and p50 (wrk:
    whole streams; Python: time to first token)."""

    def __init__(self, client: str, proc: Any, task: Any, others: list[int]) -> None:
        self.client = client
        self._proc: subprocess.Popen[bytes] | None = proc
        self._task: asyncio.Task[tuple[float, list[float], int]] | None = task
        self._others = others  # native ids of this process's threads that are not the client

    def cpu(self) -> float:
        if self._proc is not None:
            return _cpu(f"/proc/{self._proc.pid}/stat")
        mine = _cpu("/proc/self/stat")
        for tid in self._others:
            # A thread that ended: its CPU stays in the process's, counted as the client's.
            with contextlib.suppress(OSError):
                mine -= _cpu(f"/proc/self/task/{tid}/stat")
        return mine

    async def finish(self) -> tuple[int, float]:
        if self._task is not None:
            _, ttfts, errors = await self._task
            return errors, (sorted(ttfts)[len(ttfts) // 2] if ttfts else float("nan"))
        assert self._proc is not None
        out, err = await asyncio.to_thread(self._proc.communicate)
        lines = [line for line in out.decode().splitlines() if line.startswith("{")]
        if self._proc.returncode or not lines:
            raise RuntimeError(f"wrk failed ({self._proc.returncode}): {err.decode()[-2000:]}")
        got = json.loads(lines[-1])
        errors = got["incomplete"] + sum(got[k] for k in ("connect", "read", "write", "timeout"))
        return errors, got["p50_us"] / 1000


def start(
    client: str,
    url: str,
    body: dict[str, Any],
    token: str,
    concurrency: int,
    seconds: float,
    others: list[int],
) -> Running:
    """`concurrency` streams at a time for `seconds`, in the background."""
    if client == "wrk":
        env = {**os.environ, "SCALING_BODY": json.dumps(body), "SCALING_TOKEN": token}
        cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s"]
        cmd += ["--timeout", "60s", "-s", str(SCRIPT), url]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return Running("wrk", proc, None, others)
    auth = {"Authorization": f"Bearer {token}"}

    async def one(session: aiohttp.ClientSession) -> float:
        return await stream_once(session, url, body, auth)

    task = asyncio.create_task(run_load(one, 10**9, concurrency, seconds))
    return Running("python", None, task, [*others, *_helper_threads()])


def _helper_threads() -> list[int]:
    """Threads of this process other than the event loop's (aiohttp's resolver, the sampler)."""
    me = threading.get_native_id()
    return [int(t) for t in os.listdir("/proc/self/task") if int(t) != me]


async def warm(url: str, body: dict[str, Any], token: str, concurrency: int) -> None:
    """Two streams per connection, every one waited for: every worker has loaded what its
    first model call loads and filled its pool before anything is measured."""
    auth = {"Authorization": f"Bearer {token}"}

    async def one(session: aiohttp.ClientSession) -> float:
        return await stream_once(session, url, body, auth)

    started = time.perf_counter()
    _, done, errors = await run_load(one, concurrency * 2, concurrency, 120)
    if errors:
        print(
            f"  warm-up: {errors} errors of {len(done) + errors} in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
