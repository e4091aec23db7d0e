"""Client disconnects through a real uvicorn server: `/v1` bills what was delivered and closes the
reservation; a chat answer goes on, completes and is billed once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from billing.models import LedgerEntry, Reservation
from core import database, tokens
from tests.fakes.upstream import FakeUpstream
from tests.support import (
    ADMIN,
    FAKE_PRICE,
    PASSWORD,
    eventually_blocking,
    fresh_database_url,
    live_server,
    make_catalog,
    parse_sse,
)

TEXT = "".join(f"word{i} " for i in range(60))


@dataclass
class Live:
    """A live server, its admin's token headers, and its database (SQLite or PostgreSQL)."""

    url: str
    headers: dict[str, str]
    database_url: str

    def billing(self) -> tuple[Sequence[LedgerEntry], Sequence[Reservation]]:
        """The ledger rows and the reservations still open."""
        return asyncio.run(self._billing())

    async def _billing(self) -> tuple[Sequence[LedgerEntry], Sequence[Reservation]]:
        engine = database.create_engine(database.async_url(self.database_url))
        try:
            async with database.sessionmaker(engine)() as session:
                rows = list(await session.scalars(select(LedgerEntry)))
                held = select(Reservation).where(Reservation.state == "open")
                return rows, list(await session.scalars(held))
        finally:
            await engine.dispose()

    def settled(self, seconds: float) -> LedgerEntry:
        """The one ledger row, once it is there and nothing is held; fails after `seconds`."""

        def one_row() -> LedgerEntry:
            rows, held = self.billing()
            assert rows and not held, "no terminal ledger row"
            assert len(rows) == 1, rows
            return rows[0]

        return eventually_blocking(one_row, seconds=seconds, interval=0.05)


@pytest.fixture(params=[True, False], ids=["fast-path", "litellm-path"])
def live(request: pytest.FixtureRequest, upstream: FakeUpstream, tmp_path: Path) -> Iterator[Live]:
    """A served app on each streaming path: the fast relay and LiteLLM's own."""
    database_url = fresh_database_url() or f"sqlite:///{tmp_path / 'data' / 'switchboard.db'}"
    catalog = make_catalog(upstream.base_url)
    served = live_server(catalog, tmp_path, database_url=database_url, fast_path=request.param)
    with served as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            login = client.post("/api/auth/login", json={"username": ADMIN, "password": PASSWORD})
            csrf = {"X-CSRF-Token": login.json()["csrfToken"]}
            token = client.post("/api/api-tokens", json={"name": "live"}, headers=csrf)
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        yield Live(url, headers, database_url)


def _read_until(response: httpx.Response, enough: int, kind: str) -> list[Any]:
    """The SSE events read until `enough` events of `kind` arrived (/v1 chunks are `message`)."""
    buffer = ""
    for text in response.iter_text():
        buffer += text
        events = parse_sse(buffer.rsplit("\n\n", 1)[0])
        if sum(1 for e in events if e[1] == kind) >= enough:
            return events
    raise AssertionError("the stream ended early")


def test_a_v1_client_leaving_after_five_chunks_is_billed_at_least_what_it_received(
    live: Live, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT, chunks=30, delay=0.05)
    body = {
        "model": "fake",
        "messages": [{"role": "user", "content": "count"}],
        "stream": True,
        "max_tokens": 300,
    }
    with httpx.Client(base_url=live.url, headers=live.headers, timeout=30) as client:
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            chunks = _read_until(response, 5, "message")[:5]
        left = time.monotonic()
    delivered = "".join(c[2]["choices"][0]["delta"].get("content") or "" for c in chunks)
    entry = live.settled(seconds=5)
    assert time.monotonic() - left < 5
    assert entry.outcome == "cancelled" and entry.source == "v1"
    delivered_tokens = tokens.count_text(delivered, "fake")
    assert delivered_tokens > 0 and entry.completion_tokens >= delivered_tokens
    worth = (
        entry.prompt_tokens * FAKE_PRICE["input_cost_per_token"]
        + delivered_tokens * FAKE_PRICE["output_cost_per_token"]
    )
    assert entry.cost_micros >= round(worth * 1_000_000)
    assert upstream.recorder.disconnected.wait(5), "the upstream call was not cancelled"
    assert upstream.recorder.completed == 0


def test_a_chat_client_leaving_mid_answer_does_not_stop_it_and_it_is_billed_once(
    live: Live, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT, chunks=30, delay=0.03, prompt_tokens=20)
    with httpx.Client(base_url=live.url, headers=live.headers, timeout=30) as client:
        chat_id = client.post("/api/chats", json={}).json()["id"]
        with client.stream(
            "POST", f"/api/chats/{chat_id}/messages", json={"content": "go", "stream": True}
        ) as response:
            seen = _read_until(response, 5, "delta")
        message_id = seen[0][2]["messageId"]
        assert len("".join(e[2]["text"] for e in seen if e[1] == "delta")) < len(TEXT)

        def finished() -> dict[str, Any]:
            message: dict[str, Any] = client.get(
                f"/api/chats/{chat_id}/messages/{message_id}"
            ).json()
            assert message["status"] != "streaming", "the answer did not finish"
            return message

        message = eventually_blocking(finished, seconds=10, interval=0.05)
    assert message["status"] == "complete" and message["content"] == TEXT
    entry = live.settled(seconds=5)
    assert (entry.outcome, entry.source) == ("completed", "chat")
    assert (entry.prompt_tokens, entry.completion_tokens) == (20, 30)
    assert entry.cost_micros == 20 * 10 + 30 * 30 == message["costMicros"]
    assert upstream.recorder.count("fake") == 1 and upstream.recorder.completed == 1
    assert upstream.recorder.disconnects == 0
