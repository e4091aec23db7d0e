"""Chat answers through LiteLLM to the fake upstream: streaming, saving, failures, fallbacks."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from billing import ledger
from core import tokens
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, eventually, parse_sse

pytestmark = pytest.mark.anyio
TEXT = "Alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu."


async def _send(
    harness: AppHarness, chat_id: str, **body: object
) -> tuple[int, list[tuple[str, str, Any]]]:
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "Hello there", "stream": True, **body},
        headers=harness.admin.headers,
    )
    return response.status_code, parse_sse(response.text)


async def test_streamed_answer_sends_start_deltas_usage_done_in_order(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT, chunks=6)
    chat_id = await harness.chat(harness.admin)
    status, events = await _send(harness, chat_id)
    assert status == 200
    names = [e[1] for e in events]
    assert names[0] == "start" and names[-2:] == ["usage", "done"]
    assert set(names[1:-2]) == {"delta"}
    assert "".join(e[2]["text"] for e in events if e[1] == "delta") == TEXT
    start = events[0][2]
    assert start["chatId"] == chat_id and start["model"] == "fake"
    assert events[-1][2] == {"messageId": start["messageId"], "status": "complete"}
    assert all(e[0] for e in events), "every event carries an id"


async def test_answer_is_saved_with_usage_cost_and_timing(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT, chunks=6, prompt_tokens=100)
    chat_id = await harness.chat(harness.admin)
    _, events = await _send(harness, chat_id)
    usage = next(e[2] for e in events if e[1] == "usage")
    assert usage == {"promptTokens": 100, "completionTokens": 6, "costMicros": 100 * 10 + 6 * 30}
    listing = await harness.client.get(
        f"/api/chats/{chat_id}/messages", headers=harness.admin.headers
    )
    user_turn, answer = listing.json()["_embedded"]["messages"]
    assert user_turn["role"] == "user" and user_turn["content"] == "Hello there"
    assert answer["content"] == TEXT and answer["status"] == "complete"
    assert answer["costMicros"] == 1180 and answer["usageEstimated"] is False
    assert answer["ttftMs"] is not None and answer["durationMs"] >= answer["ttftMs"]


async def test_answer_without_provider_usage_is_counted_with_tiktoken_and_marked_estimated(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT, chunks=4, usage=False)
    chat_id = await harness.chat(harness.admin)
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "Hi"}, headers=harness.admin.headers
    )
    assert response.status_code == 201
    answer = response.json()
    # LiteLLM fills in usage itself when a provider omits it, so only the relay can tell.
    assert answer["usageEstimated"] is harness.services.gateway.fast_path
    assert answer["completionTokens"] == tokens.count_text(TEXT, "fake")
    assert answer["promptTokens"] > 0
    expected = math.ceil(answer["promptTokens"] * 10 + answer["completionTokens"] * 30)
    assert answer["costMicros"] == expected


async def test_accept_header_asks_for_a_stream(harness: AppHarness, upstream: FakeUpstream) -> None:
    chat_id = await harness.chat(harness.admin)
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "Hi"},
        headers={**harness.admin.headers, "Accept": "text/event-stream"},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    assert parse_sse(response.text)[-1][1] == "done"


async def test_provider_failure_before_first_token_is_a_json_error(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", fail_status=500)
    chat_id = await harness.chat(harness.admin)
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "Hi", "stream": True},
        headers=harness.admin.headers,
    )
    assert response.status_code == 503
    assert response.json()["code"] == "provider_unavailable"
    messages = await harness.client.get(
        f"/api/chats/{chat_id}/messages", headers=harness.admin.headers
    )
    statuses = [m["status"] for m in messages.json()["_embedded"]["messages"]]
    assert statuses == ["complete", "failed"]


async def test_failing_deployment_falls_back_to_the_configured_model(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake-broken", fail_status=503)
    upstream.behave("fake-backup", text="from the backup", chunks=2)
    chat_id = await harness.chat(harness.admin)
    status, events = await _send(harness, chat_id, model="fake-broken")
    assert status == 200
    assert "".join(e[2]["text"] for e in events if e[1] == "delta") == "from the backup"
    assert upstream.recorder.count("fake-broken") >= 1
    assert upstream.recorder.count("fake-backup") == 1


async def test_stream_broken_by_the_provider_keeps_the_text_as_incomplete(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT, chunks=6, break_after=3)
    chat_id = await harness.chat(harness.admin)
    status, events = await _send(harness, chat_id)
    assert status == 200
    assert events[-1][1] == "error" and events[-1][2]["code"] == "provider_unavailable"
    written = "".join(e[2]["text"] for e in events if e[1] == "delta")
    assert written and TEXT.startswith(written) and written != TEXT
    message_id = events[0][2]["messageId"]
    saved = await harness.client.get(
        f"/api/chats/{chat_id}/messages/{message_id}", headers=harness.admin.headers
    )
    assert saved.json()["status"] == "incomplete" and saved.json()["content"] == written


async def test_regenerate_replaces_the_latest_answer(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="first answer", chunks=2)
    chat_id = await harness.chat(harness.admin)
    _, events = await _send(harness, chat_id)
    first_id = events[0][2]["messageId"]
    upstream.behave("fake", text="second answer", chunks=2)
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages/{first_id}/_regenerate", headers=harness.admin.headers
    )
    assert response.status_code == 201 and response.json()["content"] == "second answer"
    listing = await harness.client.get(
        f"/api/chats/{chat_id}/messages", headers=harness.admin.headers
    )
    contents = [m["content"] for m in listing.json()["_embedded"]["messages"]]
    assert contents == ["Hello there", "second answer"]
    last_request = upstream.recorder.requests[-1]["messages"]
    assert [m["role"] for m in last_request] == ["user"]


async def test_regenerating_an_older_message_is_refused(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    chat_id = await harness.chat(harness.admin)
    _, first = await _send(harness, chat_id)
    await _send(harness, chat_id)
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages/{first[0][2]['messageId']}/_regenerate",
        headers=harness.admin.headers,
    )
    assert response.status_code == 409 and response.json()["code"] == "nothing_to_regenerate"


async def test_history_is_trimmed_to_the_context_window(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake-small", text="ok", chunks=1)
    chat_id = await harness.chat(harness.admin, model="fake-small")
    long_turn = "word " * 60
    for _ in range(4):
        await harness.client.post(
            f"/api/chats/{chat_id}/messages",
            json={"content": long_turn},
            headers=harness.admin.headers,
        )
    sent = upstream.recorder.requests[-1]["messages"]
    assert tokens.count_messages(sent, "fake-small") <= 200
    assert sent[-1] == {"role": "user", "content": long_turn}
    assert len(sent) < 7


async def test_message_too_long_for_the_model_is_refused(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    chat_id = await harness.chat(harness.admin, model="fake-small")
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "word " * 500},
        headers=harness.admin.headers,
    )
    assert response.status_code == 422 and response.json()["code"] == "prompt_too_long"
    assert upstream.recorder.count() == 0


async def test_cancel_keeps_the_partial_answer_and_closes_the_upstream_call(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT * 4, chunks=200, delay=0.02)
    chat_id = await harness.chat(harness.admin)
    engine = harness.services.chat
    sending = asyncio.create_task(
        harness.client.post(
            f"/api/chats/{chat_id}/messages", json={"content": "Hi"}, headers=harness.admin.headers
        )
    )
    run = await eventually(
        lambda: next((r for r in engine.registry.active() if len(r.text) >= 20), None),
        seconds=10,
        interval=0.01,
    )
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages/{run.message_id}/_cancel", headers=harness.admin.headers
    )
    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["content"] and (TEXT * 4).startswith(cancelled["content"])
    assert len(cancelled["content"]) < len(TEXT * 4)
    assert await asyncio.to_thread(upstream.recorder.disconnected.wait, 1.0)
    answered = await sending
    assert answered.status_code == 201 and answered.json()["status"] == "cancelled"


async def test_reattaching_with_last_event_id_replays_only_what_was_missed(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT, chunks=6, delay=0.02)
    chat_id = await harness.chat(harness.admin)
    _, events = await _send(harness, chat_id)
    message_id = events[0][2]["messageId"]
    second_delta = [e for e in events if e[1] == "delta"][1]
    response = await harness.client.get(
        f"/api/chats/{chat_id}/messages/{message_id}/events",
        headers={**harness.admin.headers, "Last-Event-ID": second_delta[0]},
    )
    replay = parse_sse(response.text)
    assert [e[1] for e in replay][-2:] == ["usage", "done"] and replay[0][1] == "delta"
    offset = int(second_delta[0])
    assert "".join(e[2]["text"] for e in replay if e[1] == "delta") == TEXT[offset:]


async def test_text_is_checkpointed_while_the_answer_streams(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT * 4, chunks=100, delay=0.02)
    chat_id = await harness.chat(harness.admin)
    sending = asyncio.create_task(
        harness.client.post(
            f"/api/chats/{chat_id}/messages", json={"content": "Hi"}, headers=harness.admin.headers
        )
    )

    async def checkpointed() -> str:
        listing = await harness.client.get(
            f"/api/chats/{chat_id}/messages", headers=harness.admin.headers
        )
        answers = [m for m in listing.json()["_embedded"]["messages"] if m["role"] == "assistant"]
        streaming = bool(answers) and answers[0]["status"] == "streaming"
        return str(answers[0]["content"]) if streaming else ""

    saved = await eventually(checkpointed, seconds=10, interval=0.05)
    assert (TEXT * 4).startswith(saved) and len(saved) < len(TEXT * 4)
    assert (await sending).json()["status"] == "complete"


async def test_load_balanced_model_spreads_calls_over_its_deployments(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    chat_id = await harness.chat(harness.admin, model="balanced")
    for _ in range(12):
        await harness.client.post(
            f"/api/chats/{chat_id}/messages", json={"content": "Hi"}, headers=harness.admin.headers
        )
    assert upstream.recorder.count("balanced-a") > 0
    assert upstream.recorder.count("balanced-b") > 0


async def test_deleting_a_chat_while_it_is_answered_stops_the_answer_and_settles_the_call(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT * 4, chunks=200, delay=0.02)
    chat_id = await harness.chat(harness.admin)
    sending = asyncio.create_task(_send(harness, chat_id))
    engine = harness.services.chat
    await eventually(engine.registry.active, seconds=10, interval=0.01)
    deleted = await harness.client.delete(f"/api/chats/{chat_id}", headers=harness.admin.headers)
    assert deleted.status_code == 204
    status, events = await sending  # the next checkpoint finds the answer gone
    assert status == 200 and events[-1][1] == "done"
    assert events[-1][2]["status"] == "cancelled"
    assert await asyncio.to_thread(upstream.recorder.disconnected.wait, 1.0)
    async with harness.services.sessions() as session:
        assert not await ledger.open_reservations(session)
