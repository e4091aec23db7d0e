"""`/v1/completions` (OpenAI's legacy API) driven by the real `openai` SDK against a served app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import openai
import pytest

from tests.api.billing_builders import ledger_rows
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Harnesses, served

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def _sdk(harness: AppHarness) -> AsyncIterator[openai.AsyncOpenAI]:
    """The openai SDK on the harness's app, served, as its admin."""
    token = harness.admin.headers["Authorization"].removeprefix("Bearer ")
    async with (
        served(harness) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0) as sdk,
    ):
        yield sdk


@pytest.fixture
async def client(harness: AppHarness) -> AsyncIterator[openai.AsyncOpenAI]:
    async with _sdk(harness) as sdk:
        yield sdk


async def test_a_prompt_is_completed_by_a_chat_model_and_billed_as_v1(
    harness: AppHarness, upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    upstream.behave("fake", text="Paris.", chunks=2, prompt_tokens=7)
    answer = await client.completions.create(
        model="fake", prompt="The capital of France is", max_tokens=20, stop=["\n"]
    )
    assert answer.object == "text_completion" and answer.model == "fake"
    [choice] = answer.choices
    assert (choice.text, choice.index, choice.finish_reason) == ("Paris.", 0, "stop")
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (7, 2)
    sent = upstream.recorder.requests[-1]
    assert sent["messages"] == [{"role": "user", "content": "The capital of France is"}]
    assert (sent["max_tokens"], sent["stop"]) == (20, ["\n"])
    [row] = await ledger_rows(harness.services.sessions)
    assert (row.source, row.outcome, row.prompt_tokens, row.completion_tokens) == (
        "v1",
        "completed",
        7,
        2,
    )


async def test_a_list_of_prompts_gets_a_choice_and_a_metered_call_each(
    harness: AppHarness, upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    upstream.behave("fake", text="ok", chunks=1, prompt_tokens=3)
    answer = await client.completions.create(model="fake", prompt=["one", "two", "three"])
    assert [(c.index, c.text) for c in answer.choices] == [(0, "ok"), (1, "ok"), (2, "ok")]
    assert answer.usage is not None and answer.usage.prompt_tokens == 9
    prompts = sorted(r["messages"][0]["content"] for r in upstream.recorder.requests)
    assert prompts == ["one", "three", "two"]
    rows = await ledger_rows(harness.services.sessions)
    assert [(r.source, r.outcome) for r in rows] == [("v1", "completed")] * 3


@pytest.mark.parametrize("fast_path", [True, False], ids=["relay", "litellm"])
async def test_a_streamed_completion_sends_text_chunks_and_usage_only_when_asked(
    make_harness: Harnesses, upstream: FakeUpstream, fast_path: bool
) -> None:
    harness = await make_harness(fast_path=fast_path)
    async with _sdk(harness) as client:
        await _stream_twice(harness, upstream, client)


async def _stream_twice(
    harness: AppHarness, upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    text = "alpha beta gamma delta"
    upstream.behave("fake", text=text, chunks=4, prompt_tokens=5)
    plain = [
        c async for c in await client.completions.create(model="fake", prompt="go", stream=True)
    ]
    assert "".join(c.choices[0].text for c in plain if c.choices) == text
    assert all(c.choices and c.usage is None for c in plain)
    assert plain[-1].choices[0].finish_reason == "stop"
    counted = [
        c
        async for c in await client.completions.create(
            model="fake", prompt="go", stream=True, stream_options={"include_usage": True}
        )
    ]
    assert counted[-1].choices == [] and counted[-1].usage is not None
    assert (counted[-1].usage.prompt_tokens, counted[-1].usage.completion_tokens) == (5, 4)
    rows = await ledger_rows(harness.services.sessions)
    assert [(r.source, r.outcome, r.completion_tokens) for r in rows] == [
        ("v1", "completed", 4)
    ] * 2


async def test_what_is_not_supported_is_refused_before_any_call(
    harness: AppHarness, upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    for options in ({"echo": True}, {"logprobs": 2}, {"suffix": "x"}, {"best_of": 2}):
        with pytest.raises(openai.BadRequestError) as refused:
            await client.completions.create(model="fake", prompt="hi", **options)
        assert next(iter(options)) in refused.value.message
    with pytest.raises(openai.BadRequestError):
        await client.completions.create(model="fake", prompt=["a", "b"], stream=True)
    with pytest.raises(openai.NotFoundError):
        await client.completions.create(model="no-such-model", prompt="hi")
    assert upstream.recorder.count() == 0
    assert await ledger_rows(harness.services.sessions) == []


async def test_a_metered_completion_carries_openais_rate_limit_headers(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await make_harness(rate_limit_user_rpm=5)
    async with _sdk(harness) as client:
        whole = await client.completions.with_raw_response.create(model="fake", prompt="hi")
        streamed = await client.completions.with_raw_response.create(
            model="fake", prompt="hi", stream=True
        )
        await streamed.parse().close()
    assert whole.headers["x-ratelimit-limit-requests"] == "5"
    assert whole.headers["x-ratelimit-remaining-requests"] == "4"
    assert streamed.headers["x-ratelimit-remaining-requests"] == "3"
