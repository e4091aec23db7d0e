"""Hostile load on a served process: while each kind of expensive request of issue 14 runs,
`/api/health` keeps answering fast and a normal chat stream still completes.

The kinds: a huge Markdown render, opening a share of a chat with huge answers, malicious
uploads (backtracking bait, deep JSON, a zip listing thousands of members), a burst of bad logins
(argon2), and a /v1 prompt of most of a megabyte to count.
"""

from __future__ import annotations

import asyncio
import gc
import io
import math
import time
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.served import Served, serve
from tests.support import ADMIN, eventually, parse_sse

# Run alone (make test runs `-m solo` after the parallel suite): another test's load would be
# measured as ours.
pytestmark = [pytest.mark.anyio, pytest.mark.solo]
# Issue 14's goal. The whole server (its loop, its render and parse workers) and this test share
# the machine's two cores, so this is measured under real contention, not on an idle server.
HEALTH_P99_SECONDS = 0.05
# Bad logins too: Argon2 runs in threads at the lowest priority (core.passwords.HASH_NICENESS 19):
# p99 9-15 ms. Outliers of 50-210 ms (twice over the limit in CI) were full garbage collections,
# the server's and this process's, not Argon2: both now freeze their long-lived objects.
PROBE_GAP_SECONDS = 0.01
MIN_PROBES = 150


def _table(chars: int) -> str:
    row = "| cell | *cell* | `cell` |\n"
    return "| a | b | c |\n|---|---|---|\n" + row * (chars // len(row))


@dataclass
class Target:
    """The served process, a share link of a chat of huge answers, and the hostile uploads
    (built beforehand: building them would hold this test's own loop)."""

    served: Served
    share_path: str
    baits: dict[str, bytes]


@pytest.fixture(scope="module")
def target(
    fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("hostile")
    env = {"SWITCHBOARD_EMBEDDING_BACKEND": "hash"}
    with serve(folder, fake_upstream_server.base_url, env=env) as served:
        fake_upstream_server.behave("fake", text=_table(150_000), chunks=20)
        with httpx.Client(base_url=served.url, headers=served.headers, timeout=60) as client:
            chat_id = client.post("/api/chats", json={}).json()["id"]
            for question in ("one", "two", "three"):
                said = client.post(f"/api/chats/{chat_id}/messages", json={"content": question})
                assert said.status_code == 201, said.text
            share = client.post(f"/api/chats/{chat_id}/shares").json()
            # LiteLLM imports parts of itself on the first /v1 call (a cold start, not load).
            warm = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}
            assert client.post("/v1/chat/completions", json=warm).status_code == 200
        fake_upstream_server.reset()
        yield Target(served, f"/api/shared/{share['token']}", _baits())


Hostile = Callable[[httpx.AsyncClient, "Target", int], Awaitable[None]]


def _p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[math.ceil(len(ordered) * 0.99) - 1]


@dataclass
class Load:
    """One hostile kind run again and again while health is probed."""

    hostile: Hostile
    runs: int = 0
    probed: bool = False


async def _probe(client: httpx.AsyncClient, load: Load, running: asyncio.Task[None]) -> list[float]:
    """Health latencies, a probe every PROBE_GAP_SECONDS, until MIN_PROBES were taken and the
    hostile request ran at least once; then the load is told to stop."""
    latencies: list[float] = []
    while len(latencies) < MIN_PROBES or not load.runs:
        if running.done():
            running.result()  # a failed hostile request fails the test at once
        started = time.perf_counter()
        answer = await client.get("/api/health")
        latencies.append(time.perf_counter() - started)
        assert answer.status_code == 200
        await asyncio.sleep(PROBE_GAP_SECONDS)
    load.probed = True
    return latencies


async def _keep_running(load: Load, client: httpx.AsyncClient, target: Target) -> None:
    """Run the hostile request again and again until the probes are done."""
    while not load.probed:
        await load.hostile(client, target, load.runs)
        load.runs += 1


async def _chat_stream(client: httpx.AsyncClient, served: Served) -> float:
    """A normal streamed chat turn to its end; its duration."""
    started = time.perf_counter()
    chat_id = (await client.post("/api/chats", json={}, headers=served.headers)).json()["id"]
    answer = await client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "hello", "stream": True},
        headers=served.headers,
    )
    assert answer.status_code == 200, answer.text
    events = [event for _, event, _ in parse_sse(answer.text)]
    assert events[-1] == "done", events
    return time.perf_counter() - started


async def _render(client: httpx.AsyncClient, target: Target, run: int) -> None:
    texts = [_table(190_000) + f"{run}", _table(190_000) + f"!{run}"]  # not from the cache
    answer = await client.post(
        "/api/markdown/_render", json={"texts": texts}, headers=target.served.headers
    )
    assert answer.status_code in (200, 413), answer.text  # 413: past its time limit


async def _open_share(client: httpx.AsyncClient, target: Target, run: int) -> None:
    answer = await client.get(target.share_path)  # no login
    assert answer.status_code == 200, answer.text
    assert answer.json()["messages"][1]["contentHtml"].count("<tr>") > 1_000


def _many_members() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        for index in range(12_000):
            archive.writestr(str(index), b"")
    return out.getvalue()


def _baits() -> dict[str, bytes]:
    return {
        "lines.txt": b" \n" * 32_768,
        "links.md": b"x[" * 32_768,
        "deep.json": b"[" * 990 + b"]" * 990,
        "members.docx": _many_members(),
        "big.md": ("# Notes\n\n" + _table(300_000)).encode(),  # accepted: parsed in a worker
    }


async def _upload(client: httpx.AsyncClient, target: Target, run: int) -> None:
    for name, data in target.baits.items():
        if run and name == "big.md":
            continue  # accepted and parsed in the background: once is enough
        answer = await client.post(
            "/api/library/files", files=[("files", (name, data))], headers=target.served.headers
        )
        assert answer.status_code < 500, (name, answer.text)


async def _bad_logins(client: httpx.AsyncClient, target: Target, run: int) -> None:
    async def attempts(number: int) -> None:
        for attempt in range(4):
            body = {"username": ADMIN, "password": f"wrong {number} {attempt}"}
            answer = await client.post("/api/auth/login", json=body)
            assert answer.status_code in (401, 429), answer.text

    await asyncio.gather(*(attempts(number) for number in range(6)))


async def _count_a_long_prompt(client: httpx.AsyncClient, target: Target, run: int) -> None:
    words = " ".join(f"w{number}" for number in range(100_000))  # ~690,000 characters
    body = {"model": "fake", "messages": [{"role": "user", "content": words}], "max_tokens": 5}
    answer = await client.post("/v1/chat/completions", json=body, headers=target.served.headers)
    assert answer.status_code < 500, answer.text


@pytest.mark.parametrize(
    ("hostile", "p99_limit"),
    [
        pytest.param(_render, HEALTH_P99_SECONDS, id="markdown-render"),
        pytest.param(_open_share, HEALTH_P99_SECONDS, id="share-of-huge-answers"),
        pytest.param(_upload, HEALTH_P99_SECONDS, id="malicious-uploads"),
        pytest.param(_bad_logins, HEALTH_P99_SECONDS, id="bad-logins"),
        pytest.param(_count_a_long_prompt, HEALTH_P99_SECONDS, id="v1-count"),
    ],
)
async def test_health_stays_fast_and_a_chat_streams_while_a_hostile_request_runs(
    target: Target, upstream: FakeUpstream, hostile: Hostile, p99_limit: float
) -> None:
    load = Load(hostile)
    # This process's own full garbage collections (~180 ms over pytest's heap) would be measured
    # as the server's latency; the server freezes its start-up objects the same way (core.heap).
    gc.freeze()
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=target.served.url, timeout=120, limits=limits) as client:
        assert (await client.get("/api/health")).status_code == 200  # connection warm
        running = asyncio.create_task(_keep_running(load, client, target))
        probing = asyncio.create_task(_probe(client, load, running))
        streamed = await _chat_stream(client, target.served)
        latencies = await probing
        await running
        await eventually(partial(_library_idle, client, target), seconds=60)
    p99 = _p99(latencies)
    print(f"{hostile.__name__} x{load.runs}: {_summary(latencies)}; chat {streamed:.2f} s")
    assert p99 <= p99_limit, (hostile.__name__, _summary(latencies))
    assert streamed < 10


async def _library_idle(client: httpx.AsyncClient, target: Target) -> bool:
    """Whether every uploaded file was indexed (or failed): the uploads' indexing is their own
    load, not the next kind's."""
    for status in ("pending", "indexing"):
        listed = await client.get(
            "/api/library/files", params={"status": status}, headers=target.served.headers
        )
        if listed.json()["_embedded"]["files"]:
            return False
    return True


def _summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50, p99, top = ordered[len(ordered) // 2], _p99(ordered), ordered[-1]
    return f"{len(ordered)} probes, p50 {p50:.3f} s, p99 {p99:.3f} s, max {top:.3f} s"
