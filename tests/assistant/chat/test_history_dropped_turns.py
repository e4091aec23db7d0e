"""When old turns are left out to fit the context window, the chat says so."""

from __future__ import annotations

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, parse_sse

pytestmark = pytest.mark.anyio


async def test_trimmed_history_is_announced_in_the_start_event_and_on_the_answer(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake-small", text="ok", chunks=1)
    chat_id = await harness.chat(harness.admin, model="fake-small")
    long_turn = "word " * 60
    starts = []
    for _ in range(3):
        response = await harness.client.post(
            f"/api/chats/{chat_id}/messages",
            json={"content": long_turn, "stream": True},
            headers=harness.admin.headers,
        )
        assert response.status_code == 200, response.text
        starts.append(next(d for _, n, d in parse_sse(response.text) if n == "start"))
    assert "droppedTurns" not in starts[0] and "notice" not in starts[0]
    dropped = starts[-1]["droppedTurns"]
    assert dropped >= 1 and "did not fit" in starts[-1]["notice"]

    listed = await harness.client.get(
        f"/api/chats/{chat_id}/messages", headers=harness.admin.headers
    )
    answers = [m for m in listed.json()["_embedded"]["messages"] if m["role"] == "assistant"]
    assert answers[0]["droppedTurns"] == 0 and answers[-1]["droppedTurns"] == dropped
    replay = await harness.client.get(
        f"/api/chats/{chat_id}/messages/{answers[-1]['id']}/events",
        headers=harness.admin.headers,
    )
    start = next(d for _, n, d in parse_sse(replay.text) if n == "start")
    assert start["droppedTurns"] == dropped
