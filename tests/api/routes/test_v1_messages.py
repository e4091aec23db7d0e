"""`/v1/messages` driven by the real Anthropic SDK against a served app: answers, streams, tools,
usage in the ledger, and each refusal as the SDK's own exception class."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import Message, MessageParam, ToolParam

from tests.api.billing_builders import create_budget, ledger_rows
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Caller, Harnesses, eventually, served

pytestmark = pytest.mark.anyio


def _token(caller: Caller) -> str:
    return caller.headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture
async def url(harness: AppHarness) -> AsyncIterator[str]:
    async with served(harness) as base:
        yield base


@pytest.fixture(params=[True, False], ids=["relay", "litellm"])
async def each_path(make_harness: Harnesses, request: pytest.FixtureRequest) -> AppHarness:
    """An app on each streaming path: the fast relay and LiteLLM's own."""
    return await make_harness(fast_path=request.param)


@pytest.fixture
async def each_path_url(each_path: AppHarness) -> AsyncIterator[str]:
    async with served(each_path) as base:
        yield base


def _client(url: str, caller: Caller, **options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key=_token(caller), max_retries=0, **options)


async def test_a_message_is_answered_by_a_catalog_model_and_billed_as_v1(
    harness: AppHarness, upstream: FakeUpstream, url: str
) -> None:
    upstream.behave("fake", text="Hello from the fake.", chunks=4, prompt_tokens=21)
    async with _client(url, harness.admin) as client:
        message = await client.messages.create(
            model="fake",
            max_tokens=100,
            system="Be brief.",
            messages=[
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": [{"type": "text", "text": "Say it again"}]},
            ],
        )
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "fake" and message.id.startswith("msg_")
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Hello from the fake."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (21, 4)
    sent = upstream.recorder.requests[-1]
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Say it again"},
    ]
    assert sent["max_tokens"] == 100
    [row] = await ledger_rows(harness.services.sessions)
    assert (row.source, row.outcome, row.prompt_tokens, row.completion_tokens) == (
        "v1",
        "completed",
        21,
        4,
    )


async def test_a_streamed_message_yields_text_events_and_the_final_message(
    each_path: AppHarness, upstream: FakeUpstream, each_path_url: str
) -> None:
    harness, url = each_path, each_path_url
    text = "one two three four five six"
    upstream.behave("fake", text=text, chunks=6, prompt_tokens=9)
    async with (
        _client(url, harness.admin) as client,
        client.messages.stream(
            model="fake", max_tokens=50, messages=[{"role": "user", "content": "count"}]
        ) as stream,
    ):
        pieces = [piece async for piece in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) == 6 and "".join(pieces) == text
    assert final.content[0].text == text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (9, 6)
    [row] = await ledger_rows(harness.services.sessions)
    assert (row.source, row.outcome, row.prompt_tokens, row.completion_tokens) == (
        "v1",
        "completed",
        9,
        6,
    )


WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _weather_call(call_id: str) -> dict[str, Any]:
    arguments = json.dumps({"city": "Paris"})
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_tool_call_round_trip_uses_tool_use_and_tool_result_blocks(
    each_path: AppHarness, upstream: FakeUpstream, each_path_url: str, stream: bool
) -> None:
    harness, url = each_path, each_path_url
    upstream.behave(
        "fake", text="It is sunny in Paris.", chunks=1, tool_calls=[[_weather_call("c1")]]
    )
    question: MessageParam = {"role": "user", "content": "Weather in Paris?"}
    first: Message
    async with _client(url, harness.admin) as client:
        if stream:
            async with client.messages.stream(
                model="fake", max_tokens=100, tools=[WEATHER], messages=[question]
            ) as streamed:
                first = await streamed.get_final_message()
        else:
            first = await client.messages.create(
                model="fake", max_tokens=100, tools=[WEATHER], messages=[question]
            )
        assert first.stop_reason == "tool_use"
        [use] = [block for block in first.content if block.type == "tool_use"]
        assert (use.id, use.name, use.input) == ("c1", "get_weather", {"city": "Paris"})
        answer = await client.messages.create(
            model="fake",
            max_tokens=100,
            tools=[WEATHER],
            messages=[
                question,
                {"role": "assistant", "content": first.content},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "c1", "content": "sunny, 24 C"}
                    ],
                },
            ],
        )
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].text == "It is sunny in Paris."  # type: ignore[union-attr]
    first_sent, second_sent = upstream.recorder.requests[-2:]
    assert first_sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["input_schema"],
                "description": "The weather in a city.",
            },
        }
    ]
    assistant, result = second_sent["messages"][1:]
    [call] = assistant["tool_calls"]
    assert (assistant["role"], assistant.get("content")) == ("assistant", None)
    assert (call["id"], call["function"]["name"]) == ("c1", "get_weather")
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert result == {"role": "tool", "tool_call_id": "c1", "content": "sunny, 24 C"}
    rows = await ledger_rows(harness.services.sessions)
    assert [(r.source, r.outcome) for r in rows] == [("v1", "completed")] * 2


async def test_the_token_is_read_from_x_api_key_or_a_bearer_header(
    harness: AppHarness, upstream: FakeUpstream, url: str
) -> None:
    upstream.behave("fake", text="ok", chunks=1)
    body = {"model": "fake", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    version = {"anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(base_url=url) as client:
        for auth in ({"x-api-key": _token(harness.admin)}, harness.admin.headers):
            answered = await client.post("/v1/messages", json=body, headers={**version, **auth})
            assert answered.status_code == 200, answered.text
            assert answered.json()["content"] == [{"type": "text", "text": "ok"}]
        # only /v1 reads x-api-key
        me = await client.get("/api/me", headers={"x-api-key": _token(harness.admin)})
        assert me.status_code == 401


async def test_a_bad_key_is_an_authentication_error(harness: AppHarness, url: str) -> None:
    client = anthropic.AsyncAnthropic(base_url=url, api_key="sb-not-a-token", max_retries=0)
    async with client:
        with pytest.raises(anthropic.AuthenticationError):
            await client.messages.create(
                model="fake", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )


async def test_an_unknown_model_is_not_found_and_a_bad_request_is_a_bad_request(
    harness: AppHarness, upstream: FakeUpstream, url: str
) -> None:
    async with _client(url, harness.admin) as client:
        with pytest.raises(anthropic.NotFoundError):
            await client.messages.create(
                model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(anthropic.BadRequestError) as refused:
            await client.messages.create(
                model="fake",
                max_tokens=5,
                messages=[{"role": "user", "content": "hi"}],
                tools=[{"type": "web_search_20250305", "name": "web_search"}],
            )
    assert "server tools" in refused.value.message
    assert upstream.recorder.count() == 0


async def test_refusals_of_billing_raise_the_sdks_classes(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await make_harness(rate_limit_user_rpm=1)
    seatless = await harness.member("sam")
    await create_budget(
        harness, name="Tight", scope="user", scopeId=harness.admin.id, limitMicros=5_000
    )
    hi: list[MessageParam] = [{"role": "user", "content": "hi"}]
    async with served(harness) as url:
        async with _client(url, seatless) as client:
            with pytest.raises(anthropic.PermissionDeniedError) as no_seat:
                await client.messages.create(model="fake", max_tokens=5, messages=hi)
        async with _client(url, harness.admin) as client:
            with pytest.raises(anthropic.PaymentRequiredError) as no_budget:
                await client.messages.create(model="fake", max_tokens=300, messages=hi)
            admitted = await client.messages.with_raw_response.create(
                model="fake", max_tokens=5, messages=hi
            )
            with pytest.raises(anthropic.RateLimitError) as limited:
                await client.messages.create(model="fake", max_tokens=5, messages=hi)
    assert no_seat.value.status_code == 403 and no_budget.value.status_code == 402
    for refusal, kind in (
        (no_seat, "permission_error"),
        (no_budget, "billing_error"),
        (limited, "rate_limit_error"),
    ):
        assert refusal.value.body == {
            "type": "error",
            "error": {"type": kind, "message": refusal.value.body["error"]["message"]},  # type: ignore[index]
        }
    assert int(limited.value.response.headers["Retry-After"]) >= 1
    assert admitted.headers["anthropic-ratelimit-requests-limit"] == "1"
    assert admitted.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert "T" in admitted.headers["anthropic-ratelimit-requests-reset"]
    assert upstream.recorder.count() == 1


async def test_bad_input_and_unknown_routes_answer_in_anthropics_shape(
    harness: AppHarness, url: str
) -> None:
    async with httpx.AsyncClient(base_url=url, headers=harness.admin.headers) as client:
        no_max_tokens = await client.post(
            "/v1/messages", json={"model": "fake", "messages": [{"role": "user", "content": "hi"}]}
        )
        no_key = await client.post("/v1/messages", json={}, headers={"Authorization": ""})
    assert no_max_tokens.status_code == 400
    assert no_max_tokens.json()["type"] == "error"
    assert no_max_tokens.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in no_max_tokens.json()["error"]["message"]
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"


async def test_a_failing_provider_is_overloaded_before_the_stream_and_an_error_event_after(
    harness: AppHarness, upstream: FakeUpstream, url: str
) -> None:
    hi: list[MessageParam] = [{"role": "user", "content": "hi"}]
    async with _client(url, harness.admin) as client:
        upstream.behave("fake", fail_status=500)
        with pytest.raises(anthropic.OverloadedError) as before:
            await client.messages.create(model="fake", max_tokens=5, messages=hi)
        text = "one two three four"
        upstream.behave("fake", text=text, chunks=4, break_after=2)
        pieces: list[str] = []
        with pytest.raises(anthropic.APIStatusError) as after:
            async with client.messages.stream(model="fake", max_tokens=50, messages=hi) as stream:
                async for piece in stream.text_stream:
                    pieces.append(piece)
    assert before.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert after.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert len(pieces) == 2 and text.startswith("".join(pieces))
    rows = await ledger_rows(harness.services.sessions)
    assert [(r.source, r.outcome) for r in rows] == [("v1", "failed")] * 2


async def test_a_client_that_leaves_a_stream_cancels_the_call_and_pays_for_what_it_read(
    each_path: AppHarness, upstream: FakeUpstream, each_path_url: str
) -> None:
    harness = each_path
    text = "".join(f"word{i} " for i in range(60))
    upstream.behave("fake", text=text, chunks=60, delay=0.05)
    hi: list[MessageParam] = [{"role": "user", "content": "hi"}]
    received: list[str] = []
    async with (
        _client(each_path_url, harness.admin) as client,
        client.messages.stream(model="fake", max_tokens=500, messages=hi) as stream,
    ):
        async for piece in stream.text_stream:
            received.append(piece)
            if len(received) == 3:
                break

    async def settled() -> bool:
        rows = await ledger_rows(harness.services.sessions)
        return bool(rows) and upstream.recorder.disconnects == 1

    await eventually(settled, seconds=20)
    [row] = await ledger_rows(harness.services.sessions)
    assert (row.source, row.outcome) == ("v1", "cancelled")
    assert 3 <= row.completion_tokens < 60


async def test_count_tokens_counts_the_prompt_without_calling_or_billing_a_model(
    harness: AppHarness, upstream: FakeUpstream, url: str
) -> None:
    hi: list[MessageParam] = [{"role": "user", "content": "How is the weather in Paris today?"}]
    async with _client(url, harness.admin) as client:
        plain = await client.messages.count_tokens(model="fake", messages=hi)
        with_more = await client.messages.count_tokens(
            model="fake", messages=hi, system="Be brief.", tools=[WEATHER]
        )
        with pytest.raises(anthropic.NotFoundError):
            await client.messages.count_tokens(model="no-such-model", messages=hi)
    assert 8 <= plain.input_tokens < with_more.input_tokens
    assert upstream.recorder.count() == 0
    assert await ledger_rows(harness.services.sessions) == []
