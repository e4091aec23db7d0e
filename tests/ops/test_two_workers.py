"""Two Switchboard processes on one PostgreSQL database share everything that must be shared.

`pair` runs `switchboard serve` twice (two workers, as on two hosts), so a test can start work on
one and touch it through the other: re-attaching to a stream, deciding a tool approval, rate
limits, scheduled jobs. `test_rate_limits_hold_exactly_under_serve_with_two_workers` also runs
`switchboard serve --workers 2`, where the kernel spreads connections over the workers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from core import clock, database
from knowledge.models import Job, JobRun
from tests.fakes.upstream import FakeUpstream
from tests.postgres import SKIP_REASON, create_database, drop_database, server_url
from tests.served import Served, prepare, serve
from tests.support import eventually, parse_sse
from tests.toolkits.servers import build_tool_server, mcp_app
from tests.toolkits.servers import serve as serve_tools

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]
RPM = 10
PROBE = "rate limit probe"
WORDS = [f"word{i} " for i in range(30)]


@dataclass
class Pair:
    """Two servers on one database, and the loopback MCP tool server both may call."""

    a: Served
    b: Served
    database_url: str
    tool_port: int


@pytest.fixture(scope="module")
def pair(
    fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    server = server_url()
    if server is None:
        pytest.skip(SKIP_REASON)
    url = create_database(server)
    with ExitStack() as stack:
        tool_port = stack.enter_context(serve_tools(mcp_app(build_tool_server())))
        env = {
            "SWITCHBOARD_RATE_LIMIT_TOKEN_RPM": str(RPM),
            "SWITCHBOARD_JOB_POLL_SECONDS": "0.2",
            "SWITCHBOARD_TOOLKIT_ALLOWED_HOSTS": json.dumps([f"127.0.0.1:{tool_port}"]),
            "SWITCHBOARD_TOOL_APPROVAL_SECONDS": "30",
        }
        token = prepare(url)
        upstream = fake_upstream_server.base_url
        a, b = (
            stack.enter_context(
                serve(
                    tmp_path_factory.mktemp(name), upstream, database_url=url, env=env, token=token
                )
            )
            for name in ("a", "b")
        )
        yield Pair(a, b, url, tool_port)
    drop_database(server, url)


async def _stream(client: httpx.AsyncClient, served: Served, chat_id: str) -> httpx.Response:
    request = client.build_request(
        "POST",
        f"{served.url}/api/chats/{chat_id}/messages",
        json={"content": "go", "stream": True},
        headers=served.headers,
    )
    response = await client.send(request, stream=True)
    assert response.status_code == 200
    return response


async def _chat(client: httpx.AsyncClient, served: Served, **body: Any) -> str:
    made = await client.post(f"{served.url}/api/chats", json=body, headers=served.headers)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def test_reattaching_on_the_other_worker_gets_the_whole_answer(
    pair: Pair, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="".join(WORDS), chunks=len(WORDS), delay=0.1)  # ~3 s
    async with httpx.AsyncClient(timeout=30) as client:
        chat_id = await _chat(client, pair.a)
        response = await _stream(client, pair.a, chat_id)
        seen: list[str] = []
        lines = response.aiter_lines()
        async for line in lines:  # up to the first delta's id, then drop the connection
            seen.append(line)
            if line.startswith("id:") and not line.endswith(":start"):
                break
        await response.aclose()
        first = parse_sse("\n".join(seen) + "\n\n")
        message_id = first[0][2]["messageId"]
        last_id = seen[-1].removeprefix("id:").strip()
        async with asyncio.timeout(20):
            rest = await client.get(
                f"{pair.b.url}/api/chats/{chat_id}/messages/{message_id}/events",
                headers={**pair.b.headers, "Last-Event-ID": last_id},
            )
    events = parse_sse(rest.text)
    before = "".join(WORDS)[: int(last_id)]
    after = "".join(e[2]["text"] for e in events if e[1] == "delta")
    assert before + after == "".join(WORDS)
    assert events[-1][1] == "done" and events[-1][2]["status"] == "complete"


async def _echo_toolkit(client: httpx.AsyncClient, pair: Pair) -> str:
    body = {"name": "loopback", "kind": "mcp_http", "url": f"http://127.0.0.1:{pair.tool_port}/mcp"}
    made = await client.post(f"{pair.a.url}/api/toolkits", json=body, headers=pair.a.headers)
    assert made.status_code == 201, made.text
    kit = str(made.json()["id"])
    refreshed = await client.post(
        f"{pair.a.url}/api/toolkits/{kit}/_refresh", headers=pair.a.headers
    )
    assert refreshed.status_code == 200, refreshed.text
    return kit


@pytest.mark.parametrize("decider", ["a", "b"])
async def test_a_tool_approval_posted_to_either_worker_is_honoured(
    pair: Pair, upstream: FakeUpstream, decider: str
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        kit = await _echo_toolkit(client, pair)
        call = {
            "id": "e1",
            "type": "function",
            "function": {"name": f"{kit}__echo", "arguments": json.dumps({"text": decider})},
        }
        upstream.behave("fake", text="ok", chunks=1, tool_calls=[[call]])
        chat_id = await _chat(client, pair.a, toolkitIds=[kit])
        response = await _stream(client, pair.a, chat_id)
        seen: list[str] = []
        lines = response.aiter_lines()
        async with asyncio.timeout(20):
            async for line in lines:
                seen.append(line)
                if line == "event: approvalRequired":
                    break
            served = pair.a if decider == "a" else pair.b
            decided = await client.post(
                f"{served.url}/api/chats/{chat_id}/tool-approvals/e1",
                json={"approve": True},
                headers=served.headers,
            )
            assert decided.status_code == 200, decided.text
            async for line in lines:
                seen.append(line)
    events = parse_sse("\n".join(seen))
    result = next(e[2] for e in events if e[1] == "toolResult")
    assert result["ok"] and result["content"] == f"echo: {decider}"
    assert events[-1][1] == "done"


async def _admitted_of(urls: list[str], headers: dict[str, str], count: int) -> list[int]:
    """Fire `count` completions at once with a fresh API token, spread over the servers."""
    body = {"model": "fake", "messages": [{"role": "user", "content": PROBE}], "max_tokens": 5}
    async with httpx.AsyncClient(timeout=60) as client:
        issued = await client.post(
            f"{urls[0]}/api/api-tokens", json={"name": "limited"}, headers=headers
        )
        assert issued.status_code == 201, issued.text
        fresh = {"Authorization": f"Bearer {issued.json()['token']}"}
        responses = await asyncio.gather(
            *(
                client.post(f"{urls[i % len(urls)]}/v1/chat/completions", json=body, headers=fresh)
                for i in range(count)
            )
        )
    for refused in (r for r in responses if r.status_code != 200):
        assert refused.json()["error"]["code"] == "rate_limited", refused.text
    return sorted(r.status_code for r in responses)


def _probes_seen(upstream: FakeUpstream) -> int:
    with upstream.recorder.lock:
        bodies = list(upstream.recorder.requests)
    return sum(1 for body in bodies if PROBE in json.dumps(body.get("messages")))


async def test_rate_limits_hold_exactly_across_the_two_workers(
    pair: Pair, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="hi", chunks=1)
    statuses = await _admitted_of([pair.a.url, pair.b.url], pair.a.headers, 3 * RPM)
    assert statuses == [200] * RPM + [429] * (2 * RPM)
    assert _probes_seen(upstream) == RPM


async def _runs_of(url: str, job_id: str) -> tuple[int, bool]:
    engine = database.create_engine(database.async_url(url))
    try:
        async with database.sessionmaker(engine)() as session:
            runs = await session.scalar(
                select(func.count()).select_from(JobRun).where(JobRun.job_id == job_id)
            )
            job = await session.get(Job, job_id)
            assert job is not None
            return int(runs or 0), job.lease_until is None and job.next_run_at is not None
    finally:
        await engine.dispose()


async def _make_due(url: str, job_id: str) -> None:
    engine = database.create_engine(database.async_url(url))
    try:
        async with database.write_transaction(database.sessionmaker(engine)) as session:
            await session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(next_run_at=clock.now() - timedelta(seconds=1))
            )
    finally:
        await engine.dispose()


async def test_a_scheduled_job_runs_once_each_time_it_is_due_with_both_workers_polling(
    pair: Pair,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        folder = await client.post(
            f"{pair.a.url}/api/library/folders", json={"name": "Empty"}, headers=pair.a.headers
        )
        assert folder.status_code == 201, folder.text
        body = {
            "name": "Every minute",
            "type": "index-files",
            "params": {"folderId": folder.json()["id"]},
            "schedule": "0 0 1 1 *",  # far away: the test makes it due
        }
        made = await client.post(f"{pair.a.url}/api/jobs", json=body, headers=pair.a.headers)
        assert made.status_code == 201, made.text
    job_id = made.json()["id"]
    for round_number in range(1, 6):
        await _make_due(pair.database_url, job_id)

        async def ran_once(round_number: int = round_number) -> bool:
            state = await _runs_of(pair.database_url, job_id)
            if state[0] > round_number:
                pytest.fail(f"the job ran twice in round {round_number}")
            return state == (round_number, True)

        await eventually(ran_once, seconds=15, interval=0.1)
        await asyncio.sleep(1)  # both workers polled (every 0.2 s) several times since
        assert (await _runs_of(pair.database_url, job_id))[0] == round_number


@pytest.fixture
def two_workers(fake_upstream_server: FakeUpstream, tmp_path: Path) -> Iterator[Served]:
    server = server_url()
    if server is None:
        pytest.skip(SKIP_REASON)
    url = create_database(server)
    env = {"SWITCHBOARD_RATE_LIMIT_TOKEN_RPM": str(RPM)}
    try:
        with serve(
            tmp_path, fake_upstream_server.base_url, database_url=url, workers=2, env=env
        ) as served:
            yield served
    finally:
        drop_database(server, url)


async def test_rate_limits_hold_exactly_under_serve_with_two_workers(
    two_workers: Served, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="hi", chunks=1)
    statuses = await _admitted_of([two_workers.url], two_workers.headers, 3 * RPM)
    assert statuses == [200] * RPM + [429] * (2 * RPM)
    assert _probes_seen(upstream) == RPM


async def test_a_token_revoked_through_one_server_is_refused_by_the_other_at_once(
    pair: Pair,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        made = await client.post(
            f"{pair.a.url}/api/api-tokens", json={"name": "short-lived"}, headers=pair.a.headers
        )
        assert made.status_code == 201, made.text
        headers = {"Authorization": f"Bearer {made.json()['token']}"}
        for _ in range(3):  # resolved, then served from b's cache
            assert (await client.get(f"{pair.b.url}/api/me", headers=headers)).status_code == 200
        revoked = await client.delete(
            f"{pair.a.url}/api/api-tokens/{made.json()['id']}", headers=pair.a.headers
        )
        assert revoked.status_code == 204
        refused = await client.get(f"{pair.b.url}/api/me", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthenticated"
