"""`/v1` with the real `openai` SDK: models, parameters and answers passed through, usage chunks
only on request, rate-limit headers on every metered answer (errors: test_openai_errors.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from sqlalchemy import select

from billing.models import LedgerEntry
from core import tokens
from tests.api.billing_builders import admin_team, seated_member
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Caller, Harnesses

pytestmark = pytest.mark.anyio
ASKED: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


@asynccontextmanager
async def sdk(
    harness: AppHarness, caller: Caller | None = None
) -> AsyncIterator[openai.AsyncOpenAI]:
    """The openai SDK pointed at the test app's `/v1`, as `caller` (the admin by default)."""
    headers = (caller or harness.admin).headers
    token = headers["Authorization"].removeprefix("Bearer ")
    transport = httpx2.ASGITransport(app=harness.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield openai.AsyncOpenAI(
            base_url="http://testserver/v1", api_key=token, http_client=http, max_retries=0
        )


@pytest.fixture(params=[True, False], ids=["relay", "litellm"])
async def either_path(request: pytest.FixtureRequest, make_harness: Harnesses) -> AppHarness:
    """An app streaming through the fast relay, or through LiteLLM's path."""
    return await make_harness(fast_path=request.param)


async def test_models_are_listed_and_retrieved_by_name_or_alias(harness: AppHarness) -> None:
    async with sdk(harness) as client:
        listed = await client.models.list()
        fake = await client.models.retrieve("fake")
        aliased = await client.models.retrieve("fake-alias")
    assert "fake" in [m.id for m in listed.data]
    assert (fake.id, fake.object, aliased.id) == ("fake", "model", "fake")
    assert fake.owned_by and fake.created > 0


async def test_a_model_turned_off_for_the_team_is_unlisted_unretrievable_and_refused(
    harness: AppHarness,
) -> None:
    member = await seated_member(harness, "tove")
    team_id = await admin_team(harness)
    off = await harness.client.delete(
        f"/api/teams/{team_id}/models/fake", headers=harness.admin.headers
    )
    assert off.status_code == 204, off.text
    async with sdk(harness, member) as client:
        listed = await client.models.list()
        with pytest.raises(openai.NotFoundError) as unknown:
            await client.models.retrieve("fake")
        with pytest.raises(openai.PermissionDeniedError) as refused:
            await client.chat.completions.create(model="fake", messages=ASKED)
    assert "fake" not in [m.id for m in listed.data]
    assert unknown.value.code == "model_not_found"
    assert refused.value.code == "model_disabled"


async def test_n_two_answers_two_choices_with_logprobs_whole_and_streamed(
    either_path: AppHarness, upstream: FakeUpstream
) -> None:
    async with sdk(either_path) as client:
        whole = await client.chat.completions.create(
            model="fake", messages=ASKED, n=2, logprobs=True, top_logprobs=2
        )
        stream = await client.chat.completions.create(
            model="fake", messages=ASKED, n=2, logprobs=True, stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert [c.index for c in whole.choices] == [0, 1]
    assert all(c.message.content for c in whole.choices)
    first = whole.choices[0].logprobs
    assert first is not None and first.content and len(first.content[0].top_logprobs) == 2
    streamed = {choice.index for chunk in chunks for choice in chunk.choices}
    assert streamed == {0, 1}
    assert any(c.logprobs and c.logprobs.content for chunk in chunks for c in chunk.choices)
    texts = [
        "".join(c.delta.content or "" for k in chunks for c in k.choices if c.index == i)
        for i in (0, 1)
    ]
    assert texts[0] and texts[0] == texts[1]
    sent = upstream.recorder.requests[-2:]
    assert [(r.get("n"), r.get("logprobs")) for r in sent] == [(2, True), (2, True)]


async def test_a_stream_carries_no_usage_chunk_unless_the_client_asks(
    either_path: AppHarness, upstream: FakeUpstream
) -> None:
    async with sdk(either_path) as client:
        plain = [
            c
            async for c in await client.chat.completions.create(
                model="fake", messages=ASKED, stream=True
            )
        ]
        asked = [
            c
            async for c in await client.chat.completions.create(
                model="fake", messages=ASKED, stream=True, stream_options={"include_usage": True}
            )
        ]
    assert plain and all(chunk.choices for chunk in plain)
    assert all(chunk.usage is None for chunk in plain)
    assert asked[-1].choices == [] and asked[-1].usage is not None
    assert asked[-1].usage.completion_tokens > 0
    # metering still got the provider's usage for the stream that did not ask for it
    asks = [r.get("stream_options") for r in upstream.recorder.requests[-2:]]
    assert asks == [{"include_usage": True}] * 2


async def test_openai_parameters_reach_the_provider(
    either_path: AppHarness, upstream: FakeUpstream
) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    sent: dict[str, Any] = {
        "seed": 7,
        "user": "u-1",
        "stop": ["\n\n"],
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
        "logit_bias": {"50256": -100},
        "top_p": 0.9,
        "response_format": {"type": "json_object"},
        "tools": [tool],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "prompt_cache_key": "cache-7",
        "safety_identifier": "person-7",
    }
    async with sdk(either_path) as client:
        await client.chat.completions.create(model="fake", messages=ASKED, **sent)
        stream = await client.chat.completions.create(
            model="fake", messages=ASKED, stream=True, **sent
        )
        assert [chunk async for chunk in stream]
    whole, streamed = upstream.recorder.requests[-2:]
    # LiteLLM drops `user` for models outside OpenAI's own catalog (the fake's); the relay sends it
    kept = {k: v for k, v in sent.items() if k != "user"}
    assert {k: whole.get(k) for k in kept} == kept
    expected = sent if either_path.services.settings.fast_path else kept
    assert {k: streamed.get(k) for k in expected} == expected


async def test_unknown_litellm_options_in_the_body_never_reach_the_call(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    async with sdk(harness) as client:
        await client.chat.completions.create(
            model="fake",
            messages=ASKED,
            extra_body={"api_base": "http://169.254.169.254/", "mock_response": "owned"},
        )
    body = upstream.recorder.requests[-1]
    assert "api_base" not in body and "mock_response" not in body


async def test_every_metered_answer_carries_rate_limit_headers(
    make_harness: Harnesses,
) -> None:
    limited = await make_harness(rate_limit_user_rpm=10, rate_limit_user_tpm=1_000_000)
    async with sdk(limited) as client:
        whole = await client.chat.completions.with_raw_response.create(
            model="fake", messages=ASKED, max_tokens=100
        )
        streamed = await client.chat.completions.with_raw_response.create(
            model="fake", messages=ASKED, max_tokens=100, stream=True
        )
        assert [chunk async for chunk in streamed.parse()]
    for raw, remaining in ((whole, "9"), (streamed, "8")):
        assert raw.headers["x-ratelimit-limit-requests"] == "10"
        assert raw.headers["x-ratelimit-remaining-requests"] == remaining
        assert raw.headers["x-ratelimit-reset-requests"] in {f"{s}s" for s in range(1, 61)}
        assert raw.headers["x-ratelimit-limit-tokens"] == "1000000"
        assert 0 < int(raw.headers["x-ratelimit-remaining-tokens"]) < 1_000_000 - 100
        assert raw.headers["x-ratelimit-reset-tokens"].endswith("s")


async def test_an_unlimited_caller_gets_no_rate_limit_headers(harness: AppHarness) -> None:
    async with sdk(harness) as client:
        raw = await client.chat.completions.with_raw_response.create(model="fake", messages=ASKED)
    assert not [h for h in raw.headers if h.lower().startswith("x-ratelimit")]


async def test_a_stream_without_usage_bills_the_reasoning_it_relayed(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    text, thought = "Forty-two.", "Six sevens make forty-two, clearly enough."
    upstream.behave("fake", text=text, reasoning=thought, chunks=3, usage=False)
    async with sdk(harness) as client:
        stream = await client.chat.completions.create(model="fake", messages=ASKED, stream=True)
        deltas = [c.choices[0].delta for c in [chunk async for chunk in stream] if c.choices]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == thought
    async with harness.services.sessions() as session:
        entry = (await session.scalars(select(LedgerEntry))).one()
    assert entry.estimated and entry.completion_tokens == tokens.count_text(thought + text, "fake")
