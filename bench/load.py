"""The load side of the gateway benchmark: streamed requests, their timings, CPU and memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

BENCH_ADMIN = ("bench", "bench-password")
POSTGRES_SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "postgres.sh"


@contextlib.contextmanager
def postgres_server(url: str | None) -> Iterator[str]:
    """The PostgreSQL server at `url`, or without one a private cluster (`.ci/postgres.sh`)
    started here and stopped when the block ends."""
    if url:
        yield url
        return
    started = subprocess.run(
        ["bash", str(POSTGRES_SCRIPT)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        yield started
    finally:
        subprocess.run(["bash", str(POSTGRES_SCRIPT), "--stop", started], check=False)


def served_env(data_dir: Path, models: Path, port: int, **settings: str) -> dict[str, str]:
    """The environment of a `switchboard serve` a bench starts: offline, on loopback, a fresh data
    directory and catalog, the bench's admin; `settings` add or override (`SWITCHBOARD_...`)."""
    return {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "SWITCHBOARD_DATA_DIR": str(data_dir),
        "SWITCHBOARD_MODELS": str(models),
        "SWITCHBOARD_ADMIN_USERNAME": BENCH_ADMIN[0],
        "SWITCHBOARD_ADMIN_PASSWORD": BENCH_ADMIN[1],
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_PORT": str(port),
        "SWITCHBOARD_HOST": "127.0.0.1",
        **settings,
    }


@dataclass
class Result:
    """One target at one concurrency and answer length."""

    target: str
    concurrency: int
    chunks: int
    streams_per_s: float
    ttft_ms: list[float]
    errors: int
    cpu_ms: float = float("nan")  # CPU time of the server measured, per stream

    def pct(self, q: float) -> float:
        ordered = sorted(self.ttft_ms) or [float("nan")]
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _tree(pid: int) -> list[int]:
    """A process and its direct children (uvicorn's workers, LiteLLM Proxy's)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = children.read_text().split() if children.exists() else []
    return [pid, *(int(p) for p in found)]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its children so far."""
    total = 0.0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


async def stream_once(
    client: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    markers: tuple[bytes, ...] = (b'"content":', b"event: delta"),
) -> float:
    """One streamed request read to its end; returns the time to its first token (the first
    read holding one of `markers`), in ms."""
    started = time.perf_counter()
    ttft = -1.0
    seen = b""
    async with client.post(url, json=body, headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"{response.status} {(await response.text())[:200]}")
        async for data in response.content.iter_any():
            if ttft < 0:
                seen = seen[-32:] + data
                if any(marker in seen for marker in markers):
                    ttft = (time.perf_counter() - started) * 1000
    return ttft


async def run_load(
    make_request: Callable[[aiohttp.ClientSession], Awaitable[float]],
    requests: int,
    concurrency: int,
    seconds: float = 60.0,
) -> tuple[float, list[float], int]:
    """Up to `requests` calls by `concurrency` workers, none started after `seconds`; returns
    streams/s, the TTFTs and the errors."""
    connector = aiohttp.TCPConnector(limit=concurrency + 8)
    ttfts: list[float] = []
    errors = 0
    counter = iter(range(requests))
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def worker() -> None:
            nonlocal errors
            for _ in counter:
                if time.perf_counter() - started > seconds:
                    break
                try:
                    ttfts.append(await make_request(client))
                except Exception:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(ttfts) / elapsed, ttfts, errors


@dataclass(frozen=True)
class Units:
    """What a row counts: one request ("stream", "request") and its size ("chunks", "inputs")."""

    request: str = "stream"
    size: str = "chunks"
    latency: str = "TTFT p50"


async def measured(
    name: str,
    request: Callable[[aiohttp.ClientSession], Awaitable[float]],
    pid: int,
    size: int,
    concurrency: int,
    requests: int,
    *,
    units: Units = Units(),
    seconds: float = 30.0,
) -> Result:
    """Warm up, then one measured run (no request starts after `seconds`); CPU is the server's
    (`pid`) per request."""
    await run_load(request, min(20, requests), concurrency)
    before = cpu_seconds(pid)
    rate, latencies, errors = await run_load(request, requests, concurrency, seconds)
    cpu = (cpu_seconds(pid) - before) * 1000 / max(1, len(latencies))
    result = Result(name, concurrency, size, rate, latencies, errors, cpu)
    print(
        f"  {name} c={concurrency} {units.size}={size}: {rate:.1f} {units.request}s/s "
        f"({len(latencies)} {units.request}s), {units.latency} {result.pct(0.5):.1f} ms, "
        f"{cpu:.2f} ms CPU/{units.request}, {errors} errors",
        flush=True,
    )
    return result
