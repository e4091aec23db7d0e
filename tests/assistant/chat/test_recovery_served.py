"""kill -9 in the middle of streams on the direct and mock paths, then a restart on the database.

One `switchboard serve` (each model of its catalog has one OpenAI-format deployment, so calls go
to the fake upstream without LiteLLM, or the gateway answers a `mock_response` itself) streams at
once a chat turn, a chat turn whose model reasons first, and `/v1/chat/completions` streams of
the slow model and of a long mock answer (its client reads no further, so the server waits on
it). It is SIGKILLed while all run and started again on the same database, which stays up for
the module: the tests read what a user, an admin and strangers get from it. (A mock's chat turn
is written whole without a wait, so none is killed mid-answer.)
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from assistant.models import Message
from billing.models import BudgetCounter, LedgerEntry, Reservation
from core import api_tokens, database, tokens, users
from core.catalog import Price
from tests.fakes.upstream import FakeUpstream
from tests.served import Served, serve
from tests.support import FAKE_PRICE, PASSWORD, eventually, parse_sse

pytestmark = pytest.mark.anyio
TEXT = "".join(f"word{i} " for i in range(300))
THOUGHT = "".join(f"step{i} " for i in range(40))
ANSWER = "".join(f"fact{i} " for i in range(40))
MOCK = "".join(f"mock{i} " for i in range(60_000))  # ~0.5 MB: more than sockets buffer
PRICE = Price(FAKE_PRICE["input_cost_per_token"], FAKE_PRICE["output_cost_per_token"])


def catalog(folder: Path, base_url: str) -> Path:
    """`fake` and `thinker` on the fake upstream (priced), `demo` a long fixed answer (free)."""

    def model(name: str, params: dict[str, Any], **info: Any) -> dict[str, Any]:
        limits = {"max_input_tokens": 8192, "max_output_tokens": 1000}
        return {"model_name": name, "litellm_params": params, "model_info": {**limits, **info}}

    upstream = {"api_base": base_url, "api_key": "test-key"}
    raw = {
        "model_list": [
            model("fake", {"model": "openai/fake", **upstream}, **FAKE_PRICE),
            model("thinker", {"model": "openai/thinker", **upstream}, **FAKE_PRICE),
            model(
                "demo",
                {"model": "openai/demo", "api_key": "not-needed", "mock_response": MOCK},
                input_cost_per_token=0,
                output_cost_per_token=0,
            ),
        ],
        "router_settings": {"num_retries": 0},
        "switchboard": {"default_model": "fake"},
    }
    path = folder / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@dataclass
class Stream:
    """A streamed response being read: its lines so far."""

    response: httpx.Response
    lines: AsyncIterator[str]
    seen: list[str] = field(default_factory=list)

    async def until(self, wanted: Callable[[str], bool]) -> None:
        async for line in self.lines:
            self.seen.append(line)
            if wanted(line):
                return
        raise AssertionError(f"the stream ended first: {self.seen[-5:]}")


async def _open(client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: Any) -> Stream:
    request = client.build_request("POST", path, json=body, headers=headers)
    response = await client.send(request, stream=True)
    assert response.status_code in (200, 201), (await response.aread()).decode()
    return Stream(response, response.aiter_lines())


@dataclass
class Killed:
    """The restarted server and what was under way when its first process was killed."""

    served: Served
    chats: dict[str, str]  # model -> the chat of the turn killed mid-answer
    answers: dict[str, str]  # model -> that turn's answer
    budget_id: str

    async def answer(self, client: httpx.AsyncClient, model: str) -> Any:  # as its owner reads it
        path = f"/api/chats/{self.chats[model]}/messages/{self.answers[model]}"
        return (await client.get(path, headers=self.served.headers)).json()


@dataclass
class Rows:
    """The database's billing rows and answers, read after the restart."""

    answers: dict[str, Message]  # by id
    entries: list[LedgerEntry]
    reservations: dict[str, Reservation]
    counters: list[BudgetCounter]


async def _rows(url: str) -> Rows:
    engine = database.create_engine(database.async_url(url))
    try:
        async with database.sessionmaker(engine)() as session:
            answers = await session.scalars(select(Message).where(Message.role == "assistant"))
            entries = await session.scalars(select(LedgerEntry))
            reservations = await session.scalars(select(Reservation))
            counters = await session.scalars(select(BudgetCounter))
            held = {r.id: r for r in reservations}
            return Rows({m.id: m for m in answers}, list(entries), held, list(counters))
    finally:
        await engine.dispose()


async def _saved_answer(client: httpx.AsyncClient, served: Served, chat_id: str) -> Any:
    listed = await client.get(f"/api/chats/{chat_id}/messages", headers=served.headers)
    return [m for m in listed.json()["_embedded"]["messages"] if m["role"] == "assistant"][-1]


async def _start_everything(client: httpx.AsyncClient, served: Served) -> tuple[Any, list[Stream]]:
    """Start the chat turns and /v1 streams; once every answer has a checkpoint with text (and
    reasoning), each model's chat and the streams, held until the kill (else they hang up)."""
    chats: dict[str, str] = {}
    streams = []
    for model in ("fake", "thinker"):
        made = await client.post("/api/chats", json={"model": model}, headers=served.headers)
        assert made.status_code == 201, made.text
        chats[model] = made.json()["id"]
        path = f"/api/chats/{chats[model]}/messages"
        streams.append(await _open(client, path, {"content": "go", "stream": True}, served.headers))
    for model in ("fake", "demo"):  # read up to their first text, then no further
        body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "go"}]}
        stream = await _open(client, "/v1/chat/completions", body, served.headers)
        await stream.until(lambda line: '"content"' in line)
        streams.append(stream)

    async def checkpointed() -> bool:
        found = {m: await _saved_answer(client, served, c) for m, c in chats.items()}
        assert all(a["status"] == "streaming" for a in found.values()), found
        return all(a["content"] and (m != "thinker" or a["reasoning"]) for m, a in found.items())

    async def reported() -> bool:  # a /v1 stream's output is written at the checkpoint ticks
        held = (await _rows(served.database_url)).reservations.values()
        return any(r.source == "v1" and r.model == "fake" and r.delivered_tokens for r in held)

    await eventually(checkpointed, seconds=20, interval=0.1)
    await eventually(reported, seconds=20, interval=0.1)
    return chats, streams


@pytest.fixture(scope="module")
async def killed(
    fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Killed]:
    upstream = fake_upstream_server
    upstream.reset()
    upstream.behave("fake", text=TEXT, chunks=300, delay=0.05)  # ~15 s
    upstream.behave("thinker", reasoning=THOUGHT, text=ANSWER, chunks=40, delay=0.1)  # 4 s + 4 s
    folder = tmp_path_factory.mktemp("killed")
    env = {"SWITCHBOARD_MODELS": str(catalog(folder, upstream.base_url))}
    with serve(folder / "first", upstream.base_url, env=env) as first:
        async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
            budget = await client.post(
                "/api/usage-budgets",
                json={"name": "All", "scope": "global", "limitMicros": 10_000_000},
                headers=first.headers,
            )
            assert budget.status_code == 201, budget.text
            chats, streams = await _start_everything(client, first)
            metrics = (await client.get("/metrics", headers=first.headers)).text
            assert "switchboard_litellm_loaded 0.0" in metrics  # every call took the direct path
            os.killpg(first.process.pid, signal.SIGKILL)
            await asyncio.to_thread(first.process.wait, 10)
            await asyncio.gather(*(stream.response.aclose() for stream in streams))
    token = first.headers["Authorization"].removeprefix("Bearer ")
    url = first.database_url
    with serve(
        folder / "second", upstream.base_url, database_url=url, token=token, env=env
    ) as second:
        async with httpx.AsyncClient(base_url=second.url, timeout=30) as client:

            async def ended() -> dict[str, str]:  # at start-up; else (the pid reused) within 20 s
                found = {m: await _saved_answer(client, second, c) for m, c in chats.items()}
                assert all(a["status"] != "streaming" for a in found.values()), found
                return {m: a["id"] for m, a in found.items()}

            answers = await eventually(ended, seconds=40, interval=0.5)
        yield Killed(second, chats, answers, budget.json()["id"])


async def test_a_killed_chat_answer_is_kept_interrupted_and_billed_its_saved_text(
    killed: Killed,
) -> None:
    async with httpx.AsyncClient(base_url=killed.served.url, timeout=30) as client:
        answer = await killed.answer(client, "fake")
        path = f"/api/chats/{killed.chats['fake']}/messages/{answer['id']}/events"
        events = parse_sse((await client.get(path, headers=killed.served.headers)).text)
    assert answer["status"] == "interrupted"
    assert answer["content"] and TEXT.startswith(answer["content"]) and answer["content"] != TEXT
    rows = await _rows(killed.served.database_url)
    saved = rows.answers[answer["id"]]
    (entry,) = [e for e in rows.entries if e.reservation_id == saved.call_reservation_id]
    held = rows.reservations[entry.reservation_id]
    assert (entry.outcome, held.state) == ("interrupted", "interrupted")
    assert entry.prompt_tokens == held.prompt_tokens > 0
    assert entry.completion_tokens == tokens.count_text(answer["content"], "fake") > 0
    assert entry.cost_micros == PRICE.cost_micros(entry.prompt_tokens, entry.completion_tokens)
    assert entry.cost_micros < held.reserved_micros  # not the worst case
    # ...and the answer shows its owner that bill (estimated), as a settled answer does.
    shown = (answer["promptTokens"], answer["completionTokens"], answer["costMicros"])
    assert shown == (entry.prompt_tokens, entry.completion_tokens, entry.cost_micros)
    assert answer["usageEstimated"]
    # Its owner's page, re-attaching after the restart, gets the text, that usage and the end.
    assert "".join(e[2]["text"] for e in events if e[1] == "delta") == answer["content"]
    assert [e[2]["costMicros"] for e in events if e[1] == "usage"] == [entry.cost_micros]
    assert events[-1][1:] == ("done", {"messageId": answer["id"], "status": "interrupted"})


async def test_a_killed_answer_that_streamed_reasoning_is_billed_its_reasoning_and_text(
    killed: Killed,
) -> None:
    async with httpx.AsyncClient(base_url=killed.served.url, timeout=30) as client:
        answer = await killed.answer(client, "thinker")
    assert answer["status"] == "interrupted"
    assert answer["reasoning"] == THOUGHT  # the whole reasoning came before the text
    assert ANSWER.startswith(answer["content"]) and answer["content"] not in ("", ANSWER)
    rows = await _rows(killed.served.database_url)
    saved = rows.answers[answer["id"]]
    (entry,) = [e for e in rows.entries if e.reservation_id == saved.call_reservation_id]
    assert entry.outcome == "interrupted"
    delivered = tokens.count_text(THOUGHT + answer["content"], "thinker")
    assert entry.completion_tokens == delivered > tokens.count_text(answer["content"], "thinker")
    assert entry.cost_micros == PRICE.cost_micros(entry.prompt_tokens, entry.completion_tokens)


async def test_killed_v1_streams_are_released_billing_their_prompt(killed: Killed) -> None:
    rows = await _rows(killed.served.database_url)
    v1 = [e for e in rows.entries if e.source == "v1"]
    assert sorted(e.model for e in v1) == ["demo", "fake"]
    for entry in v1:
        held = rows.reservations[entry.reservation_id]
        assert (entry.outcome, held.state) == ("interrupted", "interrupted")
        assert entry.prompt_tokens == held.prompt_tokens > 0
        assert entry.cost_micros < held.reserved_micros or held.reserved_micros == 0


async def test_a_killed_v1_stream_is_billed_the_tokens_it_streamed(killed: Killed) -> None:
    rows = await _rows(killed.served.database_url)
    (entry,) = [e for e in rows.entries if e.source == "v1" and e.model == "fake"]
    held = rows.reservations[entry.reservation_id]
    assert entry.completion_tokens == held.delivered_tokens > 0  # as reported, not yet renewed
    assert held.lease_expires_at == held.created_at + timedelta(seconds=held.lease_seconds)
    assert entry.completion_tokens < tokens.count_text(TEXT, "fake")  # what it sent, not all
    assert entry.cost_micros == PRICE.cost_micros(entry.prompt_tokens, entry.completion_tokens)


async def test_after_the_restart_no_hold_is_left_and_the_budget_spent_what_the_ledger_billed(
    killed: Killed,
) -> None:
    served = killed.served
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        view = await client.get(f"/api/usage-budgets/{killed.budget_id}", headers=served.headers)
        usage = await client.get("/api/usage", headers=served.headers)
    rows = await _rows(served.database_url)
    assert all(r.state != "open" for r in rows.reservations.values())
    assert sorted(e.reservation_id for e in rows.entries) == sorted(rows.reservations)
    billed = sum(e.cost_micros for e in rows.entries)
    used = sum(e.prompt_tokens + e.completion_tokens for e in rows.entries)
    (counter,) = rows.counters
    assert (counter.reserved_micros, counter.reserved_tokens) == (0, 0)
    assert (counter.spent_micros, counter.spent_tokens) == (billed, used)
    assert (view.json()["spentMicros"], view.json()["reservedMicros"]) == (billed, 0)
    (total,) = usage.json()["_embedded"]["usage"]  # the admin's usage report
    assert (total["requests"], total["costMicros"]) == (len(rows.entries), billed)


async def test_a_new_turn_after_the_restart_completes_on_the_direct_path(
    killed: Killed, upstream: FakeUpstream
) -> None:
    served = killed.served
    path = f"/api/chats/{killed.chats['fake']}/messages"
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        sent = await client.post(path, json={"content": "again"}, headers=served.headers)
        metrics = (await client.get("/metrics", headers=served.headers)).text
    assert sent.status_code == 201, sent.text
    assert sent.json()["status"] == "complete" and sent.json()["content"]
    assert "switchboard_litellm_loaded 0.0" in metrics


async def _token_of(url: str, username: str) -> str:
    """An API token for a user, issued in the database (as `served.prepare` does the admin's)."""
    engine = database.create_engine(database.async_url(url))
    try:
        async with database.write_transaction(database.sessionmaker(engine)) as session:
            user = await users.find_by_username(session, username=username)
            assert user is not None
            issued = await api_tokens.issue(session, user=user, name="own", expires_at=None)
            return issued.secret
    finally:
        await engine.dispose()


async def _tenant(client: httpx.AsyncClient, served: Served) -> dict[str, str]:
    """Headers of a user of another team, with a seat there: another tenant."""
    admin, user = served.headers, {"username": "mallory", "password": PASSWORD}
    made = await client.post("/api/users", json=user, headers=admin)
    team = await client.post("/api/teams", json={"name": "Elsewhere"}, headers=admin)
    assert (made.status_code, team.status_code) == (201, 201), (made.text, team.text)
    user_id, team_id = made.json()["id"], team.json()["id"]
    steps = [
        client.post(f"/api/teams/{team_id}/members", json={"userId": user_id}, headers=admin),
        client.put(f"/api/teams/{team_id}/ai-subscription", json={"seats": 1}, headers=admin),
        client.post(f"/api/teams/{team_id}/seats", json={"userId": user_id}, headers=admin),
    ]
    for step in steps:
        assert (answer := await step).status_code in (200, 201), answer.text
    return {"Authorization": f"Bearer {await _token_of(served.database_url, 'mallory')}"}


def _attempts(chat: str, answer: str, live: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """What a stranger tries on the admin's chat: read it, its answers (the interrupted one and
    the one being written), re-attach to their streams, write to it, stop or redo its answers."""
    base = f"/api/chats/{chat}"
    return [
        ("GET", base, None),
        ("GET", f"{base}/messages", None),
        ("GET", f"{base}/messages/{answer}", None),
        ("GET", f"{base}/messages/{answer}/events", None),
        ("GET", f"{base}/messages/{live}/events", None),
        ("GET", f"{base}/_export", None),
        ("POST", f"{base}/messages", {"content": "mine now", "stream": True}),
        ("POST", f"{base}/messages/{live}/_cancel", None),
        ("POST", f"{base}/messages/{answer}/_regenerate", None),
        ("POST", f"{base}/messages/{answer}/_continue", None),
        ("PATCH", f"{base}/messages/{answer}", {"content": "defaced"}),
    ]


async def test_strangers_get_json_refusals_and_never_the_chat_or_its_streams(
    killed: Killed, upstream: FakeUpstream
) -> None:
    served = killed.served
    upstream.behave("fake", text=TEXT, chunks=300, delay=0.015)  # ~4.5 s: written as they try
    chat, answer = killed.chats["fake"], killed.answers["fake"]
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        body = {"content": "more", "stream": True}
        sent = await _open(client, f"/api/chats/{chat}/messages", body, served.headers)
        await sent.until(lambda line: line == "event: delta")
        live = (await _saved_answer(client, served, chat))["id"]
        revoked = await client.post("/api/api-tokens", json={"name": "x"}, headers=served.headers)
        gone = f"/api/api-tokens/{revoked.json()['id']}"
        assert (await client.delete(gone, headers=served.headers)).status_code == 204
        strangers = {
            401: [
                {},
                {"Authorization": "Bearer sb_forged"},
                {"Authorization": "Basic eDp5"},
                {"Authorization": f"Bearer {revoked.json()['token']}"},
            ],
            404: [await _tenant(client, served)],
        }
        tries = [
            (status, headers, attempt)
            for status, group in strangers.items()
            for headers in group
            for attempt in _attempts(chat, answer, live) * 2
        ]
        answers = await asyncio.gather(
            *(client.request(m, p, json=b, headers=h) for _, h, (m, p, b) in tries)
        )
        for (status, _, (method, path, _)), got in zip(tries, answers, strict=True):
            assert got.status_code == status, (method, path, got.status_code, got.text)
            assert got.headers["content-type"].startswith("application/json"), (path, got.text)
            assert "code" in got.json() and "word0" not in got.text, (path, got.text)
        v1 = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        for headers in strangers[401]:
            refused = await client.post("/v1/chat/completions", json=v1, headers=headers)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["code"], refused.text  # OpenAI's error shape
        # Their tries stopped nothing: the answer being written goes on to the end.
        async for line in sent.lines:
            sent.seen.append(line)
    events = parse_sse("\n".join(sent.seen))
    assert events[-1][1] == "done" and events[-1][2]["status"] == "complete"
    assert "".join(e[2]["text"] for e in events if e[1] == "delta") == TEXT
