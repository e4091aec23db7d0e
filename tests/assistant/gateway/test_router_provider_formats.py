"""Every provider wire format LiteLLM speaks for us, end to end: Anthropic's Messages API, Gemini's
generateContent, Ollama's /api/chat and Azure OpenAI, each a real server on loopback
(tests/fakes/*_upstream.py) that LiteLLM reaches through `api_base`. Chat, `/v1`, the tool loop,
usage, reasoning, prompt-cache pricing and provider failures run through each format alike.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from billing.models import LedgerEntry
from core.catalog import Catalog, parse_catalog
from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.azure_upstream import AzureUpstream
from tests.fakes.formats import FormatFake
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.ollama_upstream import OllamaUpstream
from tests.support import AppHarness, Harnesses, parse_sse

pytestmark = pytest.mark.anyio
FORMATS = ("anthropic", "gemini", "ollama", "azure")
FAKES: dict[str, type[FormatFake]] = {
    "anthropic": AnthropicUpstream,
    "gemini": GeminiUpstream,
    "ollama": OllamaUpstream,
    "azure": AzureUpstream,
}
# $10 / $30 per million input / output tokens; cache reads $1, cache writes $12.50.
PRICE = {
    "input_cost_per_token": 10e-6,
    "output_cost_per_token": 30e-6,
    "cache_read_input_token_cost": 1e-6,
    "cache_creation_input_token_cost": 12.5e-6,
    "max_input_tokens": 4096,
    "max_output_tokens": 1000,
}
CALC = "builtin-calculator__calculate"
OPENAI_CHUNK_KEYS = {"id", "object", "created", "model", "system_fingerprint", "choices", "usage"}
TEXT = "Forty-two is the answer."


def _catalog(fakes: dict[str, FormatFake]) -> Catalog:
    """Per format: `<f>` and `<f>-backup` answer, `<f>-broken` falls back to `<f>-backup`,
    `<f>-flaky` has two deployments (a retry takes the other at once), `<f>-down` has nothing to
    fall back to."""
    model_list: list[dict[str, Any]] = []
    for name, fake in fakes.items():
        for model, upstream in (
            (name, "main"),
            (f"{name}-broken", "broken"),
            (f"{name}-backup", "backup"),
            (f"{name}-flaky", "flaky"),
            (f"{name}-flaky", "flaky"),
            (f"{name}-down", "down"),
        ):
            params = fake.params(upstream)
            if model.endswith("-flaky"):  # two deployments LiteLLM tells apart
                twins = [m for m in model_list if m["model_name"] == model]
                params["api_key"] = f"key-{len(twins)}"
            entry = {"model_name": model, "litellm_params": params}
            model_list.append({**entry, "model_info": PRICE})
    raw = {
        "model_list": model_list,
        "router_settings": {
            "num_retries": 0,
            "model_group_retry_policy": {
                f"{name}-flaky": {"RateLimitErrorRetries": 1} for name in fakes
            },
            "fallbacks": [{f"{name}-broken": [f"{name}-backup"]} for name in fakes],
        },
        "switchboard": {"default_model": FORMATS[0]},
    }
    return parse_catalog(raw, source="provider formats")


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FormatFake]]:
    started = {name: kind().start() for name, kind in FAKES.items()}
    yield started
    for fake in started.values():
        fake.stop()


@pytest.fixture(scope="module")
async def app(
    make_module_harness: Harnesses, fakes: dict[str, FormatFake]
) -> AsyncIterator[AppHarness]:
    yield await make_module_harness(catalog=_catalog(fakes), tool_max_steps=3)


@pytest.fixture(params=FORMATS)
def fake(request: pytest.FixtureRequest, fakes: dict[str, FormatFake]) -> FormatFake:
    """One format's fake, reset for this test."""
    chosen = fakes[str(request.param)]
    chosen.reset()
    return chosen


def _call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


async def _ask(
    app: AppHarness, model: str, toolkits: tuple[str, ...] = ()
) -> list[tuple[str, str, Any]]:
    """One streamed chat turn through Switchboard's chat API."""
    chat_id = await app.chat(app.admin, model=model, toolkitIds=list(toolkits))
    response = await app.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "What is six times seven?", "stream": True},
        headers=app.admin.headers,
    )
    if response.status_code != 200:  # refused before the stream opened
        return [("", "error", response.json())]
    return parse_sse(response.text)


async def _v1(app: AppHarness, model: str, **body: Any) -> Any:
    response = await app.client.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "Hi"}], **body},
        headers=app.admin.headers,
    )
    return response


def _text(events: list[tuple[str, str, Any]]) -> str:
    return "".join(e[2]["text"] for e in events if e[1] == "delta")


def _streamed(text: str) -> list[dict[str, Any]]:
    """The JSON chunks of a /v1 stream (without the closing [DONE])."""
    return [e[2] for e in parse_sse(text) if isinstance(e[2], dict)]


async def _entries(app: AppHarness, model: str) -> list[LedgerEntry]:
    async with app.services.sessions() as session:
        rows = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.model == model).order_by(LedgerEntry.created_at)
        )
        return list(rows)


async def test_a_chat_turn_streams_through_the_format(app: AppHarness, fake: FormatFake) -> None:
    fake.behave("main", text=TEXT, chunks=3, prompt_tokens=30, completion_tokens=5)
    events = await _ask(app, fake.name)
    names = [e[1] for e in events]
    assert names[0] == "start" and names[-2:] == ["usage", "done"], names
    assert _text(events) == TEXT
    usage = next(e[2] for e in events if e[1] == "usage")
    assert usage == {"promptTokens": 30, "completionTokens": 5, "costMicros": 30 * 10 + 5 * 30}
    (seen,) = fake.recorder.requests
    assert "What is six times seven?" in json.dumps(seen.body)
    assert seen.body.get("stream") is True or seen.query.get("alt") == "sse"


async def test_v1_chat_completions_answers_whole_with_the_providers_usage(
    app: AppHarness, fake: FormatFake
) -> None:
    fake.behave("main", text=TEXT, prompt_tokens=12, completion_tokens=4)
    response = await _v1(app, fake.name)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"] == TEXT
    assert body["choices"][0]["finish_reason"] == "stop" and body["model"] == fake.name
    assert body["usage"]["prompt_tokens"] == 12 and body["usage"]["completion_tokens"] == 4
    (entry,) = (await _entries(app, fake.name))[-1:]
    assert (entry.prompt_tokens, entry.completion_tokens, entry.estimated) == (12, 4, False)


async def test_v1_chat_completions_streams_text_and_usage(
    app: AppHarness, fake: FormatFake
) -> None:
    fake.behave("main", text=TEXT, chunks=4, prompt_tokens=12, completion_tokens=4)
    response = await _v1(app, fake.name, stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200, response.text
    chunks = _streamed(response.text)
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    assert text == TEXT
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == "stop" and set(finish[:-1]) == {None}  # null, as OpenAI sends it
    assert len({c["id"] for c in chunks}) == 1, "one id for the whole stream"
    assert all(c["choices"] for c in chunks[:-1]), "only the usage chunk has no choices"
    assert all(set(c) <= OPENAI_CHUNK_KEYS for c in chunks), chunks
    usage = [c["usage"] for c in chunks if c.get("usage")]
    assert usage[-1]["prompt_tokens"] == 12 and usage[-1]["completion_tokens"] == 4
    assert response.text.rstrip().endswith("data: [DONE]")


@pytest.mark.parametrize("stream", [False, True])
async def test_v1_returns_the_models_reasoning_apart_from_its_answer(
    app: AppHarness, fake: FormatFake, stream: bool
) -> None:
    if fake.name == "azure":
        pytest.skip("Azure OpenAI sends no reasoning text (only a count of reasoning tokens)")
    fake.behave("main", text=TEXT, thinking="Six sevens are forty-two.")
    response = await _v1(app, fake.name, stream=stream)
    assert response.status_code == 200, response.text
    if stream:
        deltas = [c["choices"][0]["delta"] for c in _streamed(response.text) if c["choices"]]
        text = "".join(d.get("content") or "" for d in deltas)
        reasoning = "".join(d.get("reasoning_content") or "" for d in deltas)
    else:
        message = response.json()["choices"][0]["message"]
        text, reasoning = message["content"], message["reasoning_content"]
    assert (text, reasoning) == (TEXT, "Six sevens are forty-two.")


async def test_a_chat_answer_streams_the_reasoning_apart_from_its_text(
    app: AppHarness, fake: FormatFake
) -> None:
    fake.behave("main", text=TEXT, thinking="Six sevens are forty-two.")
    events = await _ask(app, fake.name)
    assert _text(events) == TEXT and events[-1][1] == "done"
    thought = "".join(e[2]["text"] for e in events if e[1] == "reasoning")
    assert thought == ("" if fake.name == "azure" else "Six sevens are forty-two.")


async def test_the_tool_loop_runs_through_the_format(app: AppHarness, fake: FormatFake) -> None:
    fake.behave("main", text=TEXT, tool_calls=[[_call("c1", CALC, {"expression": "6*7"})]])
    events = await _ask(app, fake.name, ("builtin-calculator",))
    names = [e[1] for e in events]
    assert names.index("toolCall") < names.index("toolResult") < names.index("delta"), names
    call = next(e[2] for e in events if e[1] == "toolCall")
    result = next(e[2] for e in events if e[1] == "toolResult")
    assert call["name"] == CALC and result["ok"] and json.loads(result["content"])["value"] == 42
    assert _text(events) == TEXT and names[-1] == "done"
    first, second = (seen.body for seen in fake.recorder.requests)
    assert CALC in json.dumps(first.get("tools")), "the tools went out in the format's shape"
    assert _tool_result_sent(fake.name, second, result["content"])
    assert len(await _entries(app, fake.name)) >= 2  # each model call of the loop is metered


def _tool_result_sent(name: str, body: dict[str, Any], content: str) -> bool:
    """Whether the request carries the tool's result back in the format's own shape."""
    if name == "anthropic":
        block = body["messages"][-1]["content"][0]
        return bool(block["type"] == "tool_result" and block["tool_use_id"] == "c1")
    if name == "gemini":
        part = body["contents"][-1]["parts"][0]  # Google's JSON takes either spelling
        answered = part.get("functionResponse") or part.get("function_response") or {}
        return bool(answered.get("name") == CALC and answered["response"]["value"] == 42)
    message = body["messages"][-1]
    if name == "ollama":
        return bool(message["role"] == "tool" and message["content"] == content)
    return bool(message["role"] == "tool" and message["tool_call_id"] == "c1")


@pytest.mark.parametrize("stream", [False, True])
async def test_v1_returns_the_models_tool_calls(
    app: AppHarness, fake: FormatFake, stream: bool
) -> None:
    fake.behave("main", tool_calls=[[_call("c1", CALC, {"expression": "6*7"})]])
    tools = [{"type": "function", "function": {"name": CALC, "parameters": {"type": "object"}}}]
    response = await _v1(app, fake.name, stream=stream, tools=tools)
    assert response.status_code == 200, response.text
    if stream:
        chunks = [c for c in _streamed(response.text) if c["choices"]]
        fragments = [f for c in chunks for f in c["choices"][0]["delta"].get("tool_calls") or []]
        name = "".join(f["function"].get("name") or "" for f in fragments)
        arguments = "".join(f["function"].get("arguments") or "" for f in fragments)
        finish = chunks[-1]["choices"][0]["finish_reason"]
    else:
        choice = response.json()["choices"][0]
        (call,) = choice["message"]["tool_calls"]
        name, arguments, finish = (
            call["function"]["name"],
            call["function"]["arguments"],
            choice["finish_reason"],
        )
    assert name == CALC and json.loads(arguments) == {"expression": "6*7"}
    assert finish == "tool_calls"


# prompt 100 = 40 read from the cache + 20 written to it (Anthropic's) + 40 plain; 7 completion.
CACHE_COST = {
    "anthropic": 40 * 10 + 40 * 1 + 20 * 12.5 + 7 * 30,
    "gemini": 60 * 10 + 40 * 1 + 7 * 30,  # Gemini reports cache reads only
    "azure": 60 * 10 + 40 * 1 + 7 * 30,  # as OpenAI does
    "ollama": 100 * 10 + 7 * 30,  # no prompt cache
}


@pytest.mark.parametrize("path", ["chat", "v1", "v1-stream"])
async def test_prompt_cache_tokens_are_priced_at_their_own_rates(
    app: AppHarness, fake: FormatFake, path: str
) -> None:
    fake.behave("main", prompt_tokens=100, completion_tokens=7, cache_read=40, cache_write=20)
    if path == "chat":
        events = await _ask(app, fake.name)
        usage = next(e[2] for e in events if e[1] == "usage")
        assert usage["costMicros"] == CACHE_COST[fake.name]
    else:
        response = await _v1(app, fake.name, stream=path == "v1-stream")
        assert response.status_code == 200, response.text
    entry = (await _entries(app, fake.name))[-1]
    assert (entry.prompt_tokens, entry.completion_tokens) == (100, 7)
    assert entry.cost_micros == CACHE_COST[fake.name]


@pytest.mark.parametrize("status", [429, 529, 500, 503])
async def test_a_provider_failing_before_the_first_token_falls_back(
    app: AppHarness, fake: FormatFake, status: int
) -> None:
    fake.behave("broken", fail_status=status)
    fake.behave("backup", text=TEXT)
    events = await _ask(app, f"{fake.name}-broken")
    assert _text(events) == TEXT and events[-1][1] == "done", events
    response = await _v1(app, f"{fake.name}-broken")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == TEXT
    assert fake.recorder.bodies("broken") and len(fake.recorder.bodies("backup")) == 2


async def test_a_provider_failing_once_is_retried(app: AppHarness, fake: FormatFake) -> None:
    fake.behave("flaky", text=TEXT, fail_status=429, fail_times=1)
    events = await _ask(app, f"{fake.name}-flaky")
    assert _text(events) == TEXT and events[-1][1] == "done", events
    assert len(fake.recorder.bodies("flaky")) == 2


async def test_a_provider_failing_with_nothing_to_fall_back_to_is_a_clear_error(
    app: AppHarness, fake: FormatFake
) -> None:
    fake.behave("down", fail_status=503)
    events = await _ask(app, f"{fake.name}-down")
    assert events[-1][1] == "error" and events[-1][2]["code"] == "provider_unavailable", events
    response = await _v1(app, f"{fake.name}-down")
    error = response.json()["error"]
    assert response.status_code in (502, 503) and error["code"] == "provider_unavailable", error


async def test_a_provider_failing_after_the_first_token_ends_with_a_clear_error(
    app: AppHarness, fake: FormatFake
) -> None:
    fake.behave("main", text=TEXT, chunks=3, break_after=1)
    events = await _ask(app, fake.name)
    written = _text(events)
    assert written and TEXT.startswith(written) and written != TEXT, events
    assert events[-1][1] == "error" and events[-1][2]["code"] == "provider_unavailable", events
    start = events[0][2]
    saved = await app.client.get(
        f"/api/chats/{start['chatId']}/messages/{start['messageId']}", headers=app.admin.headers
    )
    assert saved.json()["status"] == "incomplete" and saved.json()["content"] == written
    response = await _v1(app, fake.name, stream=True)
    chunks = _streamed(response.text)
    assert chunks[0]["choices"][0]["delta"]["content"] == written
    assert chunks[-1]["error"]["code"] == "provider_unavailable", chunks
    assert len(fake.recorder.requests) == 2, "no retry once a token went out"


@pytest.mark.parametrize("stream", [False, True])
async def test_v1_messages_and_responses_answer_through_the_format(
    app: AppHarness, fake: FormatFake, stream: bool
) -> None:
    fake.behave("main", text=TEXT, chunks=3, prompt_tokens=12, completion_tokens=4)
    messages = await app.client.post(
        "/v1/messages",
        json={
            "model": fake.name,
            "max_tokens": 50,
            "stream": stream,
            "messages": [{"role": "user", "content": "Hi"}],
        },
        headers=app.admin.headers,
    )
    assert messages.status_code == 200, messages.text
    responses = await app.client.post(
        "/v1/responses",
        json={"model": fake.name, "input": "Hi", "stream": stream},
        headers=app.admin.headers,
    )
    assert responses.status_code == 200, responses.text
    if stream:
        events = parse_sse(messages.text)
        deltas = [e[2]["delta"] for e in events if e[1] == "content_block_delta"]
        assert "".join(d.get("text", "") for d in deltas) == TEXT
        done = [e[2] for e in parse_sse(responses.text) if e[1] == "response.completed"]
        answer = done[0]["response"]
    else:
        assert messages.json()["content"][0]["text"] == TEXT
        assert messages.json()["usage"]["input_tokens"] == 12
        answer = responses.json()
    assert answer["output"][-1]["content"][0]["text"] == TEXT
    assert answer["usage"]["input_tokens"] == 12 and answer["usage"]["output_tokens"] == 4
