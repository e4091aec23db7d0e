"""A budget is never overspent: 50 streaming requests released together against room for 10.

The fake model costs $10 / $30 per million input / output tokens. Each request has a prompt of
exactly 100 tokens (as admission counts it with tiktoken) and `max_tokens` 300, so its worst case
is 100 × 10 + 300 × 30 = 10,000 µ$, and a $0.10 budget holds exactly ten. The fake upstream
reports 100 prompt and 300 completion tokens, so the ten admitted cost exactly 100,000 µ$.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest
import yaml

from billing import seats
from core import api_tokens, database, tokens
from core import users as user_service
from core.schemas import UserCreate
from tests.api.billing_builders import completion
from tests.fakes.upstream import FakeUpstream
from tests.postgres import SKIP_REASON, create_database, drop_database, server_url
from tests.support import ADMIN, FAKE_PRICE, PASSWORD, AppHarness, free_port

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
BUDGET_MICROS = 100_000
WORST_CASE_MICROS = 10_000
REQUESTS = 50
MAX_TOKENS = 300


def _prompt_of(count: int) -> str:
    """A user message whose whole prompt (framing included) is `count` tokens."""
    content = "hello"
    while tokens.count_messages([{"role": "user", "content": content}], "fake") < count:
        content += " hello"
    assert tokens.count_messages([{"role": "user", "content": content}], "fake") == count
    return content


PROMPT = _prompt_of(100)
BODY = completion(PROMPT, max_tokens=MAX_TOKENS, stream=True)


def _fake_answers_at_full_length(upstream: FakeUpstream) -> None:
    upstream.behave("fake", text="x" * MAX_TOKENS, chunks=MAX_TOKENS, prompt_tokens=100)


@dataclass
class Round:
    """What one release of 50 requests did."""

    statuses: list[int]
    reached_upstream: int
    spent_micros: int
    reserved_micros: int


async def _round(
    client: httpx.AsyncClient, headers: dict[str, str], upstream: FakeUpstream
) -> Round:
    user_id = (await client.get("/api/me", headers=headers)).json()["id"]
    made = await client.post(
        "/api/usage-budgets",
        json={"name": "Ten", "scope": "user", "scopeId": user_id, "limitMicros": BUDGET_MICROS},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    budget_id = made.json()["id"]
    before = upstream.recorder.count("fake")
    responses = await asyncio.gather(
        *(client.post("/v1/chat/completions", json=BODY, headers=headers) for _ in range(REQUESTS))
    )
    for response in responses:
        if response.status_code == 200:
            assert response.text.rstrip().endswith("data: [DONE]")
        else:
            assert response.json()["details"]["budget"]["id"] == budget_id
    view = (await client.get(f"/api/usage-budgets/{budget_id}", headers=headers)).json()
    gone = await client.delete(f"/api/usage-budgets/{budget_id}", headers=headers)
    assert gone.status_code == 204
    return Round(
        sorted(r.status_code for r in responses),
        upstream.recorder.count("fake") - before,
        view["spentMicros"],
        view["reservedMicros"],
    )


def _assert_exact(result: Round) -> None:
    assert result.statuses == [200] * 10 + [402] * 40
    assert result.reached_upstream == 10
    assert (result.spent_micros, result.reserved_micros) == (BUDGET_MICROS, 0)


def test_the_prompt_makes_a_worst_case_of_exactly_ten_thousand_micros() -> None:
    prompt = tokens.count_messages([{"role": "user", "content": PROMPT}], "fake")
    worst = (
        prompt * FAKE_PRICE["input_cost_per_token"]
        + MAX_TOKENS * FAKE_PRICE["output_cost_per_token"]
    )
    assert round(worst * 1_000_000) == WORST_CASE_MICROS


async def test_fifty_streams_against_room_for_ten_admit_exactly_ten_twenty_times_on_sqlite(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    _fake_answers_at_full_length(upstream)
    for attempt in range(20):
        result = await _round(harness.client, harness.admin.headers, upstream)
        assert result.statuses == [200] * 10 + [402] * 40, attempt
        _assert_exact(result)


@dataclass
class Served:
    """The app under `switchboard serve --workers 2` on PostgreSQL."""

    url: str
    headers: dict[str, str]


def _models_file(folder: Path, base_url: str) -> Path:
    raw = {
        "model_list": [
            {
                "model_name": "fake",
                "litellm_params": {
                    "model": "openai/fake",
                    "api_base": base_url,
                    "api_key": "test-key",
                },
                "model_info": {**FAKE_PRICE, "max_input_tokens": 4096, "max_output_tokens": 1000},
            }
        ],
        "router_settings": {"num_retries": 0},
        "switchboard": {"default_model": "fake"},
    }
    path = folder / "models.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


async def _admin_token(url: str) -> str:
    """Create the admin with a seat and a token before the workers start (so they do not race)."""
    engine = database.create_engine(database.async_url(url))
    try:
        async with database.write_transaction(database.sessionmaker(engine)) as session:
            data = UserCreate(username=ADMIN, password=PASSWORD, role="admin")
            admin = await user_service.create(session, data=data)
            await seats.grant_bootstrap_seat(session, user_id=admin.id)
            issued = await api_tokens.issue(session, user=admin, name="load", expires_at=None)
            return issued.secret
    finally:
        await engine.dispose()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "switchboard serve exited"
        try:
            if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"switchboard serve did not answer within {seconds} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def two_workers(fake_upstream_server: FakeUpstream, tmp_path: Path) -> Iterator[Served]:
    server = server_url()
    if server is None:
        pytest.skip(SKIP_REASON)
    url = create_database(server)
    port = free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_DATABASE_URL": url,
        "SWITCHBOARD_MODELS": str(_models_file(tmp_path, fake_upstream_server.base_url)),
        "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
        "SWITCHBOARD_ADMIN_USERNAME": ADMIN,
        "SWITCHBOARD_ADMIN_PASSWORD": PASSWORD,
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),  # the code under test, whichever checkout it is in
    }
    secret = asyncio.run(_admin_token(url))
    switchboard = str(Path(sys.executable).with_name("switchboard"))
    command = [switchboard, "serve", "--workers", "2", "--port", str(port)]
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, process, seconds=90)
        yield Served(base, {"Authorization": f"Bearer {secret}"})
    finally:
        _stop(process)
        log.close()
        drop_database(server, url)


@pytest.mark.postgres
async def test_fifty_streams_admit_exactly_ten_ten_times_on_two_workers_and_postgresql(
    two_workers: Served, upstream: FakeUpstream
) -> None:
    _fake_answers_at_full_length(upstream)
    limits = httpx.Limits(max_connections=REQUESTS + 5)
    async with httpx.AsyncClient(base_url=two_workers.url, timeout=60, limits=limits) as client:
        with anyio.fail_after(300):
            for attempt in range(10):
                result = await _round(client, two_workers.headers, upstream)
                assert result.statuses == [200] * 10 + [402] * 40, attempt
                _assert_exact(result)
