"""`/v1` with the `litellm` SDK as a client (the way programs built on LiteLLM call a gateway):
chat completions streamed and not, embeddings and Anthropic Messages against a served app, and
each refusal raised as LiteLLM's own exception class. The server side still calls the fake
upstream over real HTTP; LiteLLM here is only the caller."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import litellm
import pytest

from core.catalog import parse_catalog
from tests.api.billing_builders import create_budget
from tests.fakes.upstream import FakeUpstream, hashed_vector
from tests.support import AppHarness, Caller, Harnesses, make_catalog, served

pytestmark = pytest.mark.anyio
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def app(make_harness: Harnesses, upstream: FakeUpstream) -> AppHarness:
    """The test catalog plus `embed`, an embedding model on the fake's /v1/embeddings."""
    embed = {
        "model_name": "embed",
        "litellm_params": {
            "model": "openai/text-embedding-3-small",
            "api_base": upstream.base_url,
            "api_key": "test-key",
        },
        "model_info": {"mode": "embedding", "input_cost_per_token": 10e-6},
    }
    catalog = make_catalog(upstream.base_url)
    added = parse_catalog({"model_list": [embed]}, source="embedding model")
    return await make_harness(catalog=replace(catalog, models={**catalog.models, **added.models}))


@pytest.fixture
async def url(app: AppHarness) -> AsyncIterator[str]:
    async with served(app) as base:
        yield base


def _as(caller: Caller, url: str, path: str = "/v1") -> dict[str, Any]:
    """LiteLLM's keywords to reach the served app as `caller`, never retried."""
    token = caller.headers["Authorization"].removeprefix("Bearer ")
    return {"api_base": url + path, "api_key": token, "num_retries": 0, "max_retries": 0}


async def test_chat_completions_answer_litellm_streamed_and_not(
    app: AppHarness, upstream: FakeUpstream, url: str
) -> None:
    upstream.behave("fake", text="Hello from the fake.", chunks=4, prompt_tokens=21)
    whole = await litellm.acompletion(model="openai/fake", messages=HI, **_as(app.admin, url))
    stream = await litellm.acompletion(
        model="openai/fake",
        messages=HI,
        stream=True,
        stream_options={"include_usage": True},
        **_as(app.admin, url),
    )
    chunks = [chunk async for chunk in stream]
    assert whole.choices[0].message.content == "Hello from the fake."
    assert whole.choices[0].finish_reason == "stop"
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (21, 4)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake."
    assert [c.usage.prompt_tokens for c in chunks if getattr(c, "usage", None)][-1] == 21
    sent = upstream.recorder.requests
    assert len(sent) == 2 and all(body["messages"] == HI for body in sent)


async def test_embeddings_answer_litellm(app: AppHarness, upstream: FakeUpstream, url: str) -> None:
    texts = ["harbour crane lifts containers", "fog delays the ferry"]
    made = await litellm.aembedding(model="openai/embed", input=texts, **_as(app.admin, url))
    assert [item["index"] for item in made.data] == [0, 1]
    for item, text in zip(made.data, texts, strict=True):
        got, want = item["embedding"], hashed_vector(text)
        assert len(got) == len(want)
        assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(got, want, strict=True))
    assert made.usage.prompt_tokens == 4 + 4  # the fake counts words


async def test_anthropic_messages_answer_litellms_anthropic_provider_streamed_and_not(
    app: AppHarness, upstream: FakeUpstream, url: str
) -> None:
    upstream.behave("fake", text="Hello from the fake.", chunks=4, prompt_tokens=21)
    reach = _as(app.admin, url, path="")  # LiteLLM's `anthropic/` adds /v1/messages
    whole = await litellm.acompletion(model="anthropic/fake", max_tokens=100, messages=HI, **reach)
    stream = await litellm.acompletion(
        model="anthropic/fake", max_tokens=100, messages=HI, stream=True, **reach
    )
    chunks = [chunk async for chunk in stream]
    assert whole.choices[0].message.content == "Hello from the fake."
    assert whole.choices[0].finish_reason == "stop"
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (21, 4)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake."
    sent = upstream.recorder.requests
    assert len(sent) == 2 and all(body["messages"] == HI for body in sent)
    assert all(body["max_tokens"] == 100 for body in sent)


async def test_refusals_raise_litellms_exception_classes(
    app: AppHarness, upstream: FakeUpstream, url: str
) -> None:
    stranger = Caller("", "nobody", {"Authorization": "Bearer sb_not_a_real_token"})
    with pytest.raises(litellm.AuthenticationError):
        await litellm.acompletion(model="openai/fake", messages=HI, **_as(stranger, url))
    with pytest.raises(litellm.NotFoundError) as unknown:
        await litellm.acompletion(model="openai/nope", messages=HI, **_as(app.admin, url))
    assert "nope" in str(unknown.value)
    unseated = await app.member("ulla")
    with pytest.raises(litellm.APIError) as unseated_refused:  # LiteLLM's class for any 403
        await litellm.acompletion(model="openai/fake", messages=HI, **_as(unseated, url))
    assert unseated_refused.value.status_code == 403 and "seat" in str(unseated_refused.value)
    with pytest.raises(litellm.AuthenticationError):
        await litellm.acompletion(
            model="anthropic/fake", max_tokens=5, messages=HI, **_as(stranger, url, path="")
        )
    with pytest.raises(litellm.NotFoundError):
        await litellm.acompletion(
            model="anthropic/nope", max_tokens=5, messages=HI, **_as(app.admin, url, path="")
        )
    await create_budget(app, name="Tight", scope="user", scopeId=app.admin.id, limitMicros=1)
    with pytest.raises(litellm.RateLimitError) as spent:
        await litellm.acompletion(model="openai/fake", messages=HI, **_as(app.admin, url))
    assert "Tight" in str(spent.value)
    with pytest.raises(litellm.RateLimitError):
        await litellm.aembedding(model="openai/embed", input=["x"], **_as(app.admin, url))
    assert upstream.recorder.count() == 0
