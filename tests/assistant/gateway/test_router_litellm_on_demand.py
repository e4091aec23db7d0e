"""LiteLLM is imported only when a call needs it: a model whose one OpenAI-format deployment
leaves LiteLLM's router nothing to decide is served without it, streamed or not (~150 MB
resident less), and so is `make run`'s `demo` model (a fixed answer, `mock_response`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from core import tokens
from tests.fakes.upstream import FakeUpstream
from tests.served import ROOT, serve
from tests.support import FAKE_PRICE, parse_sse

pytestmark = pytest.mark.anyio
# make run's default catalog's `demo` model, as models.yaml has it
DEMO = next(
    entry
    for entry in yaml.safe_load((ROOT / "models.yaml").read_text(encoding="utf-8"))["model_list"]
    if entry["model_name"] == "demo"
)
DEMO_TEXT = DEMO["litellm_params"]["mock_response"]


def _catalog(folder: Path, base_url: str) -> Path:
    """`fake` is called directly and `demo` answered by the gateway; `balanced` (two deployments
    for LiteLLM's router to choose from) needs LiteLLM."""
    info = {**FAKE_PRICE, "max_input_tokens": 4096, "max_output_tokens": 1000}
    fake = {"model": "openai/fake", "api_base": base_url, "api_key": "test-key"}
    raw = {
        "model_list": [
            {"model_name": "fake", "litellm_params": fake, "model_info": info},
            DEMO,
            {"model_name": "balanced", "litellm_params": fake, "model_info": info},
            {"model_name": "balanced", "litellm_params": fake, "model_info": info},
        ],
        # act only after a call failed: nothing for the router to decide beforehand
        "router_settings": {"num_retries": 1, "fallbacks": [{"fake": ["demo"]}]},
        "switchboard": {"default_model": "fake"},
    }
    path = folder / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


async def _litellm_loaded(client: httpx.AsyncClient) -> bool:
    metrics = (await client.get("/metrics")).text
    line = next(x for x in metrics.splitlines() if x.startswith("switchboard_litellm_loaded"))
    return float(line.split()[-1]) == 1


async def _streamed_chunks(client: httpx.AsyncClient, model: str) -> list[dict[str, Any]]:
    """The chunks of a streamed `/v1/chat/completions` answer, the usage chunk included."""
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    body["stream_options"] = {"include_usage": True}
    answer = await client.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200, answer.text
    events = [line.removeprefix("data: ") for line in answer.text.split("\n\n") if line]
    assert events[-1] == "[DONE]", answer.text
    return [json.loads(event) for event in events[:-1]]


async def _streamed(client: httpx.AsyncClient, model: str) -> str:
    """The text of a streamed `/v1/chat/completions` answer."""
    chunks = await _streamed_chunks(client, model)
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


async def _demo_answers_without_litellm(client: httpx.AsyncClient) -> None:
    """The demo model's answer, streamed, whole and in a chat turn, as LiteLLM gave it: its
    text three characters a chunk; streamed usage as metering counts tokens, whole LiteLLM's
    fixed 10 + 20 of a mock."""
    chunks = await _streamed_chunks(client, "demo")
    *answer, stop, usage = chunks
    assert "".join(c["choices"][0]["delta"]["content"] for c in answer) == DEMO_TEXT
    assert answer[0]["choices"][0]["delta"]["role"] == "assistant"
    assert {len(c["choices"][0]["delta"]["content"]) for c in answer[:-1]} == {3}
    assert stop["choices"] == [{"finish_reason": "stop", "index": 0, "delta": {}}]
    assert usage["choices"] == [] and len({c["id"] for c in chunks}) == 1
    prompt = tokens.count_messages([{"role": "user", "content": "Hi"}], "demo")
    completion = tokens.count_text(DEMO_TEXT, "demo")
    assert usage["usage"]["prompt_tokens"] == prompt
    assert usage["usage"]["completion_tokens"] == completion
    body = {"model": "demo", "messages": [{"role": "user", "content": "Hi"}]}
    whole = (await client.post("/v1/chat/completions", json=body)).json()
    assert whole["choices"][0]["message"] == {"content": DEMO_TEXT, "role": "assistant"}
    assert whole["usage"] == {"completion_tokens": 20, "prompt_tokens": 10, "total_tokens": 30}
    chat_id = (await client.post("/api/chats", json={"model": "demo"})).json()["id"]
    turn = await client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "hello", "stream": True}
    )
    events = {event: data for _, event, data in parse_sse(turn.text)}
    assert events["delta"] == {"text": DEMO_TEXT}, turn.text
    assert events["usage"]["completionTokens"] == completion, turn.text
    assert events["usage"]["costMicros"] == 0 and events["done"]["status"] == "complete"


async def test_a_direct_model_streams_and_chats_without_litellm_and_another_model_loads_it(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    # `upstream`, reset for this test: the shared fake keeps what earlier tests on this worker
    # told `fake` to answer, and this test reads the default answer
    env = {"SWITCHBOARD_MODELS": str(_catalog(tmp_path, upstream.base_url))}
    with serve(tmp_path, upstream.base_url, env=env) as served:
        async with httpx.AsyncClient(
            base_url=served.url, headers=served.headers, timeout=60
        ) as client:
            assert "quick brown fox" in await _streamed(client, "fake")
            body = {"model": "fake", "messages": [{"role": "user", "content": "Hi"}]}
            whole = await client.post("/v1/chat/completions", json=body)
            assert whole.status_code == 200, whole.text
            assert "quick brown fox" in whole.json()["choices"][0]["message"]["content"]
            chat_id = (await client.post("/api/chats", json={"model": "fake"})).json()["id"]
            turn = await client.post(
                f"/api/chats/{chat_id}/messages", json={"content": "hello", "stream": True}
            )
            assert turn.status_code == 200, turn.text
            assert "event: done" in turn.text, turn.text
            assert not await _litellm_loaded(client)
            await _demo_answers_without_litellm(client)
            assert not await _litellm_loaded(client)

            assert "quick brown fox" in await _streamed(client, "balanced")
            assert await _litellm_loaded(client)
