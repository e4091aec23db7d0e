"""`/v1/responses` driven by the real OpenAI SDK: answers and typed streams bridged over chat
completions, `previous_response_id` kept per user, function tools, retrieve and delete, usage in
the ledger and each refusal as the SDK's own exception class."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx2
import openai
import pytest
from sqlalchemy import func, select

from assistant.gateway import stored_responses
from assistant.models import StoredResponse
from tests.api.billing_builders import create_budget, ledger_rows
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Caller, Harnesses, served

pytestmark = pytest.mark.anyio

Client = Callable[[Caller], openai.AsyncOpenAI]
TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CALL = {
    "id": "call_w1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
}


def sdk(harness: AppHarness, caller: Caller) -> openai.AsyncOpenAI:
    """An OpenAI SDK client for a caller, talking to the test app in process (close it)."""
    http = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=harness.app), base_url="http://testserver"
    )
    token = caller.headers["Authorization"].removeprefix("Bearer ")
    return openai.AsyncOpenAI(
        base_url="http://testserver/v1", api_key=token, http_client=http, max_retries=0
    )


@pytest.fixture
async def client(harness: AppHarness) -> AsyncIterator[Client]:
    """`sdk` for the test's app, closed when the test ends."""
    async with AsyncExitStack() as stack:

        def make(caller: Caller) -> openai.AsyncOpenAI:
            made = sdk(harness, caller)
            stack.push_async_callback(made.close)
            return made

        yield make


async def stored_count(harness: AppHarness) -> int:
    async with harness.services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(StoredResponse)) or 0)


async def test_a_response_answers_with_instructions_and_is_billed_as_v1(
    harness: AppHarness, upstream: FakeUpstream, client: Client
) -> None:
    upstream.behave("fake", text="Hello from the fake.", chunks=4, prompt_tokens=21)
    response = await client(harness.admin).responses.create(
        model="fake", instructions="Be brief.", input="Hi", max_output_tokens=100
    )
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.model == "fake" and response.output_text == "Hello from the fake."
    assert [item.type for item in response.output] == ["message"]
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (21, 4)
    sent = upstream.recorder.requests[-1]
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert sent["max_tokens"] == 100
    [row] = await ledger_rows(harness.services.sessions)
    assert (row.source, row.outcome, row.prompt_tokens, row.completion_tokens) == (
        "v1",
        "completed",
        21,
        4,
    )


async def test_a_streamed_response_sends_typed_events_and_is_stored(
    harness: AppHarness, upstream: FakeUpstream, client: Client
) -> None:
    text = "one two three four five six"
    upstream.behave("fake", text=text, chunks=6, prompt_tokens=9)
    sdk = client(harness.admin)
    stream = await sdk.responses.create(model="fake", input="count", stream=True)
    events = [event async for event in stream]
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == text and len(deltas) == 6
    assert [e.sequence_number for e in events] == list(range(len(events)))
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == text
    assert completed.response.usage is not None and completed.response.usage.input_tokens == 9
    again = await sdk.responses.retrieve(completed.response.id)
    assert again.output_text == text and again.status == "completed"
    [row] = await ledger_rows(harness.services.sessions)
    assert (row.source, row.outcome, row.completion_tokens) == ("v1", "completed", 6)


async def test_previous_response_id_sends_the_earlier_turns_upstream(
    harness: AppHarness, upstream: FakeUpstream, client: Client
) -> None:
    upstream.behave("fake", text="Nice to meet you, Ada.", chunks=2)
    sdk = client(harness.admin)
    first = await sdk.responses.create(
        model="fake", instructions="Be brief.", input="My name is Ada."
    )
    upstream.behave("fake", text="Your name is Ada.", chunks=2)
    second = await sdk.responses.create(
        model="fake", input="What is my name?", previous_response_id=first.id, stream=True
    )
    [done] = [event async for event in second if event.type == "response.completed"]
    assert done.response.previous_response_id == first.id
    assert upstream.recorder.requests[-1]["messages"] == [
        {"role": "user", "content": "My name is Ada."},  # instructions are per turn
        {"role": "assistant", "content": "Nice to meet you, Ada."},
        {"role": "user", "content": "What is my name?"},
    ]
    third = await sdk.responses.create(
        model="fake", input="And again?", previous_response_id=done.response.id
    )
    assert [m["content"] for m in upstream.recorder.requests[-1]["messages"]] == [
        "My name is Ada.",
        "Nice to meet you, Ada.",
        "What is my name?",
        "Your name is Ada.",
        "And again?",
    ]
    await sdk.responses.delete(done.response.id)  # its turn leaves the conversation
    await sdk.responses.create(model="fake", input="Once more?", previous_response_id=third.id)
    assert [m["content"] for m in upstream.recorder.requests[-1]["messages"]] == [
        "And again?",
        "Your name is Ada.",
        "Once more?",
    ]


async def test_a_function_tool_round_trip_carries_the_call_and_its_output(
    harness: AppHarness, upstream: FakeUpstream, client: Client
) -> None:
    upstream.behave("fake", text="It is sunny in Oslo.", tool_calls=[[CALL]])
    sdk = client(harness.admin)
    asked = await sdk.responses.create(model="fake", input="Weather in Oslo?", tools=[TOOL])
    [call] = asked.output
    assert call.type == "function_call"
    assert (call.call_id, call.name, call.arguments) == (
        "call_w1",
        "get_weather",
        '{"city":"Oslo"}',
    )
    assert upstream.recorder.requests[-1]["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": TOOL["parameters"],
                "description": "The weather in a city.",
            },
        }
    ]
    answered = await sdk.responses.create(
        model="fake",
        previous_response_id=asked.id,
        tools=[TOOL],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )
    assert answered.output_text == "It is sunny in Oslo."
    assert upstream.recorder.requests[-1]["messages"] == [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "tool_calls": [CALL]},  # LiteLLM leaves out content None
        {"role": "tool", "tool_call_id": "call_w1", "content": "sunny"},
    ]


async def test_a_streamed_function_call_sends_argument_events(
    harness: AppHarness, upstream: FakeUpstream, client: Client
) -> None:
    upstream.behave("fake", tool_calls=[[CALL]])
    stream = await client(harness.admin).responses.create(
        model="fake", input="Weather in Oslo?", tools=[TOOL], stream=True
    )
    events = [event async for event in stream]
    kinds = [event.type for event in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    done = events[-2]
    assert done.type == "response.output_item.done" and done.item.type == "function_call"
    assert (done.item.name, done.item.arguments) == ("get_weather", '{"city":"Oslo"}')
    completed = events[-1]
    assert completed.type == "response.completed"
    assert [item.type for item in completed.response.output] == ["function_call"]


async def test_stored_responses_are_retrieved_deleted_and_hidden_from_other_users(
    harness: AppHarness, upstream: FakeUpstream, client: Client
) -> None:
    upstream.behave("fake", text="Private answer.", chunks=2)
    mine = client(harness.admin)
    stranger = client(await harness.member("mallory"))
    made = await mine.responses.create(model="fake", input="secret")
    got = await mine.responses.retrieve(made.id)
    assert got.model_dump() == made.model_dump()
    with pytest.raises(openai.NotFoundError):
        await stranger.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        await stranger.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        await stranger.responses.create(model="fake", input="x", previous_response_id=made.id)
    assert upstream.recorder.count() == 1  # the stranger's turn never reached the model
    await mine.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        await mine.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        await mine.responses.delete(made.id)
    assert await stored_count(harness) == 0


async def test_store_false_keeps_nothing(
    harness: AppHarness, upstream: FakeUpstream, client: Client
) -> None:
    sdk = client(harness.admin)
    whole = await sdk.responses.create(model="fake", input="hi", store=False)
    stream = await sdk.responses.create(model="fake", input="hi", store=False, stream=True)
    [done] = [event async for event in stream if event.type == "response.completed"]
    assert whole.to_dict()["store"] is False and done.response.output_text
    assert await stored_count(harness) == 0
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(whole.id)


async def test_a_budget_refusal_raises_the_sdks_error_before_any_model_call(
    harness: AppHarness, upstream: FakeUpstream, client: Client
) -> None:
    await create_budget(
        harness, name="Tight", scope="user", scopeId=harness.admin.id, limitMicros=5_000
    )
    sdk = client(harness.admin)
    with pytest.raises(openai.RateLimitError) as refused:  # OpenAI's insufficient_quota
        await sdk.responses.create(model="fake", input="hi", max_output_tokens=300)
    assert refused.value.code == "budget_exceeded"
    assert refused.value.type == "insufficient_quota"
    with pytest.raises(openai.RateLimitError) as streamed:
        await sdk.responses.create(model="fake", input="hi", max_output_tokens=300, stream=True)
    assert streamed.value.code == "budget_exceeded"
    assert upstream.recorder.count() == 0 and await stored_count(harness) == 0


async def test_seat_and_rate_limit_refusals_raise_the_sdks_classes(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await make_harness(rate_limit_user_rpm=1)
    async with sdk(harness, await harness.member("sam")) as seatless:
        with pytest.raises(openai.PermissionDeniedError) as no_seat:
            await seatless.responses.create(model="fake", input="hi")
    async with sdk(harness, harness.admin) as admin:
        raw = await admin.responses.with_raw_response.create(
            model="fake", input="hi", max_output_tokens=5
        )
        assert raw.headers["x-ratelimit-limit-requests"] == "1"
        assert raw.headers["x-ratelimit-remaining-requests"] == "0"
        with pytest.raises(openai.RateLimitError) as limited:
            await admin.responses.create(model="fake", input="hi", max_output_tokens=5)
    assert no_seat.value.code == "seat_required"
    assert limited.value.code == "rate_limited"
    assert upstream.recorder.count() == 1


async def test_what_chat_completions_cannot_carry_is_refused_clearly(
    harness: AppHarness, upstream: FakeUpstream, client: Client
) -> None:
    sdk = client(harness.admin)
    with pytest.raises(openai.APIStatusError) as built_in:
        await sdk.responses.create(model="fake", input="news?", tools=[{"type": "web_search"}])
    assert built_in.value.status_code in {400, 422}
    assert "built-in tools (web_search)" in built_in.value.message
    with pytest.raises(openai.APIStatusError) as reference:
        await sdk.responses.create(model="fake", input=[{"type": "item_reference", "id": "msg_1"}])
    assert "item_reference" in reference.value.message
    malformed: list[Any] = [
        [{"role": "user", "content": 7}],
        [{"role": ["user"], "content": "x"}],
        [{"type": "function_call", "call_id": "c1", "name": {}, "arguments": "{}"}],
        [{"role": "user", "content": [{"type": ["input_text"], "text": "x"}]}],
    ]
    for items in malformed:
        with pytest.raises(openai.APIStatusError) as bad:
            await sdk.responses.create(model="fake", input=items)
        assert bad.value.status_code in {400, 422}, items
    with pytest.raises(openai.APIStatusError) as bad_choice:
        await sdk.responses.create(model="fake", input="x", tool_choice={"type": "file_search"})
    assert bad_choice.value.status_code in {400, 422}
    assert upstream.recorder.count() == 0


async def test_a_conversation_is_capped_in_turns(
    harness: AppHarness,
    upstream: FakeUpstream,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stored_responses, "MAX_CHAIN_TURNS", 2)
    sdk = client(harness.admin)
    first = await sdk.responses.create(model="fake", input="one")
    second = await sdk.responses.create(model="fake", input="two", previous_response_id=first.id)
    with pytest.raises(openai.APIStatusError) as refused:
        await sdk.responses.create(model="fake", input="three", previous_response_id=second.id)
    assert refused.value.code == "conversation_too_long"
    assert upstream.recorder.count() == 2


async def test_a_chat_answer_with_structured_input_keeps_its_parts(
    harness: AppHarness, upstream: FakeUpstream, client: Client
) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    await client(harness.admin).responses.create(
        model="fake",
        input=[
            {"role": "developer", "content": "Answer in JSON."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": image, "detail": "low"},
                ],
            },
        ],
        text={"format": {"type": "json_object"}},
    )
    sent = upstream.recorder.requests[-1]
    assert sent["response_format"] == {"type": "json_object"}
    assert json.dumps(sent["messages"][1]["content"][1]) == json.dumps(
        {"type": "image_url", "image_url": {"url": image, "detail": "low"}}
    )


async def test_a_provider_failing_mid_stream_ends_with_response_failed_and_bills_as_failed(
    harness: AppHarness, upstream: FakeUpstream, client: Client
) -> None:
    sdk = client(harness.admin)
    upstream.behave("fake", fail_status=500)
    with pytest.raises(openai.APIStatusError) as before:
        await sdk.responses.create(model="fake", input="hi", stream=True)
    assert before.value.status_code >= 500
    upstream.behave("fake", text="one two three four", chunks=4, break_after=2)
    stream = await sdk.responses.create(model="fake", input="hi", stream=True)
    events = [event async for event in stream]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert len(deltas) == 2
    failed = events[-1]
    assert failed.type == "response.failed"
    assert failed.response.status == "failed" and failed.response.error is not None
    assert await stored_count(harness) == 0
    rows = await ledger_rows(harness.services.sessions)
    assert [(r.source, r.outcome) for r in rows] == [("v1", "failed")] * 2


async def test_the_sdks_stream_helper_accumulates_text_and_function_calls(
    harness: AppHarness, upstream: FakeUpstream, client: Client
) -> None:
    upstream.behave("fake", text="Checking.", chunks=2, tool_calls=[[CALL]])
    async with client(harness.admin).responses.stream(
        model="fake", input="Weather in Oslo?", tools=[TOOL]
    ) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    assert [item.type for item in final.output] == ["function_call"]
    assert final.output[0].arguments == '{"city":"Oslo"}'  # type: ignore[union-attr]
    async with client(harness.admin).responses.stream(
        model="fake", input="And now?", previous_response_id=final.id
    ) as stream:
        texts = [
            event.delta async for event in stream if event.type == "response.output_text.delta"
        ]
        final = await stream.get_final_response()
    assert final.output_text == "".join(texts) == "Checking."


async def test_input_items_list_the_conversation_a_response_answered(
    harness: AppHarness, upstream: FakeUpstream, client: Client
) -> None:
    upstream.behave("fake", text="Hello Ada.", chunks=2)
    sdk = client(harness.admin)
    first = await sdk.responses.create(model="fake", input="I am Ada.")
    second = await sdk.responses.create(
        model="fake",
        input=[{"role": "user", "content": "Who am I?"}],
        previous_response_id=first.id,
    )
    page = await sdk.responses.input_items.list(second.id, order="asc")
    listed: list[dict[str, Any]] = [item.to_dict() for item in page.data]
    assert [(i["type"], i.get("role")) for i in listed] == [
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
    ]
    assert listed[0]["content"] == [{"type": "input_text", "text": "I am Ada."}]
    assert listed[1]["id"] == first.output[0].id  # the first answer, as it was output
    assert all(i["id"] for i in listed)
    newest = await sdk.responses.input_items.list(second.id, limit=1)
    assert [i.to_dict()["id"] for i in newest.data] == [listed[2]["id"]] and newest.has_more
    rest = await sdk.responses.input_items.list(second.id, after=str(listed[2]["id"]))
    assert [i.to_dict()["id"] for i in rest.data] == [listed[1]["id"], listed[0]["id"]]
    with pytest.raises(openai.NotFoundError):
        await client(await harness.member("eve")).responses.input_items.list(second.id)


async def test_a_stream_over_real_http_arrives_event_by_event(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="one two three four", chunks=4, delay=0.05)
    token = harness.admin.headers["Authorization"].removeprefix("Bearer ")
    async with (
        served(harness) as url,
        openai.AsyncOpenAI(base_url=url + "/v1", api_key=token, max_retries=0) as sdk,
    ):
        stream = await sdk.responses.create(model="fake", input="count", stream=True)
        kinds = [event.type async for event in stream]
    assert kinds.count("response.output_text.delta") == 4
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
