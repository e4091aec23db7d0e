"""A deployment's fixed answer (`mock_response`, make run's `demo` model) is given by the gateway
as LiteLLM gives it, and what LiteLLM plays otherwise (errors, tool calls) is left to it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from assistant.errors import ProviderError
from assistant.gateway.chunks import Chunk
from assistant.gateway.mock_answers import TURN_EVERY, MockAnswer, answer_of
from assistant.gateway.router import Gateway
from core import tokens
from core.catalog import parse_catalog
from tests.assistant.gateway.test_router_litellm_on_demand import DEMO, DEMO_TEXT

pytestmark = pytest.mark.anyio
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]


def _gateway(fast_path: bool, demo: dict[str, Any] = DEMO) -> Gateway:
    # router settings that only act after a failure (no retry: LiteLLM waits before one)
    raw = {"model_list": [demo], "router_settings": {"num_retries": 0}}
    return Gateway(parse_catalog(raw, source="test"), fast_path=fast_path)


async def _streamed(gateway: Gateway) -> list[Chunk]:
    model = gateway.catalog.models["demo"]
    stream = await gateway.stream(model=model, messages=MESSAGES, max_tokens=100, temperature=0.2)
    return [chunk async for chunk in stream]


def _shape(value: Any) -> Any:
    """A JSON value with its ids and times taken out (they differ from call to call)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k not in ("id", "created")}
    return [_shape(v) for v in value] if isinstance(value, list) else value


async def test_the_demo_model_answers_as_litellm_does_without_it() -> None:
    # ~5 s alone: LiteLLM's own answer needs its import (most of the suite's workers have it)
    direct, litellm = _gateway(fast_path=True), _gateway(fast_path=False)
    assert direct.direct(direct.catalog.models["demo"]) is not None
    ours, theirs = await _streamed(direct), await _streamed(litellm)
    assert direct._router is None  # LiteLLM's router was never asked
    assert "".join(c.text for c in ours) == "".join(c.text for c in theirs) == DEMO_TEXT
    assert [c.text for c in ours] == [c.text for c in theirs]
    assert [c.finish_reason for c in ours] == [c.finish_reason for c in theirs]
    assert [_shape(c.raw) for c in ours[:-1]] == [_shape(c.raw) for c in theirs[:-1]]
    assert len({c.raw["id"] for c in ours}) == 1 and ours[0].raw["id"].startswith("chatcmpl-")
    # the usage chunk: LiteLLM counts the text as metering does, the prompt one token less a
    # message; the gateway's count is metering's own
    usage, their_usage = ours[-1].raw["usage"], theirs[-1].raw["usage"]
    assert usage.keys() == their_usage.keys()
    assert usage["completion_tokens"] == their_usage["completion_tokens"]
    assert usage["prompt_tokens"] == tokens.count_messages(MESSAGES, "demo")
    assert ours[-1].usage is not None and ours[-1].usage.completion_tokens == 64

    model = direct.catalog.models["demo"]
    whole = await direct.complete(model=model, messages=MESSAGES, max_tokens=100)
    their_whole = await litellm.complete(model=model, messages=MESSAGES, max_tokens=100)
    assert _shape(whole) == _shape(their_whole.model_dump(exclude_none=True))
    assert direct._router is None


async def test_what_litellm_plays_itself_is_left_to_it() -> None:
    demo = DEMO["litellm_params"]
    for raised in ("litellm.RateLimitError", "Exception: content_filter_policy"):
        assert answer_of({**demo, "mock_response": raised}) is None
    assert answer_of({**demo, "mock_tool_calls": [{"id": "a"}]}) is None
    assert answer_of({**demo, "model": "anthropic/demo"}) is None
    answer = answer_of(demo)
    assert answer is not None and answer.covers({"max_tokens": 5, "tools": []})
    assert not answer.covers({"n": 2}) and not answer.covers({"verbosity": "low"})

    limited = {**DEMO, "litellm_params": {**demo, "mock_response": "litellm.RateLimitError"}}
    gateway = _gateway(fast_path=True, demo=limited)
    assert gateway.direct(gateway.catalog.models["demo"]) is None
    with pytest.raises(ProviderError):  # LiteLLM's mock rate limit
        await _streamed(gateway)


async def test_a_long_fixed_answer_lets_the_event_loop_run_while_it_is_streamed() -> None:
    loop = asyncio.get_running_loop()
    turns = [0]

    def other_work() -> None:  # runs once per turn of the event loop
        turns[0] += 1
        nxt[0] = loop.call_soon(other_work)

    nxt = [loop.call_soon(other_work)]
    answer = MockAnswer(text="x" * 30_000, model="demo")  # 10,000 chunks
    stream = answer.stream(MESSAGES, {}, "demo")
    assert stream is not None
    seen: list[int] = []  # the other work's turns at the first text and at the stop chunk
    async for chunk in stream:
        if (chunk.text and not seen) or chunk.finish_reason:
            seen.append(turns[0])
    nxt[0].cancel()
    assert seen[1] - seen[0] >= 10_000 // TURN_EVERY - 1
