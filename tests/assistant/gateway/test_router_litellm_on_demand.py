"""LiteLLM is imported only when a call needs it: a model whose one OpenAI-format deployment
leaves LiteLLM's router nothing to decide is served without it, streamed or not (~150 MB
resident less)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml

from tests.fakes.upstream import FakeUpstream
from tests.served import serve
from tests.support import FAKE_PRICE

pytestmark = pytest.mark.anyio


def _catalog(folder: Path, base_url: str) -> Path:
    """`fake` is called directly; `demo` (LiteLLM answers it itself) needs LiteLLM."""
    info = {**FAKE_PRICE, "max_input_tokens": 4096, "max_output_tokens": 1000}
    fake = {"model": "openai/fake", "api_base": base_url, "api_key": "test-key"}
    demo = {"model": "openai/demo", "api_key": "none", "mock_response": "Hello from LiteLLM."}
    raw = {
        "model_list": [
            {"model_name": "fake", "litellm_params": fake, "model_info": info},
            {"model_name": "demo", "litellm_params": demo, "model_info": info},
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


async def _streamed(client: httpx.AsyncClient, model: str) -> str:
    """The text of a streamed `/v1/chat/completions` answer."""
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    answer = await client.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200, answer.text
    events = [line.removeprefix("data: ") for line in answer.text.split("\n\n") if line]
    assert events[-1] == "[DONE]", answer.text
    chunks = [json.loads(event) for event in events[:-1]]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


async def test_a_direct_model_streams_and_chats_without_litellm_and_another_model_loads_it(
    fake_upstream_server: FakeUpstream, tmp_path: Path
) -> None:
    env = {"SWITCHBOARD_MODELS": str(_catalog(tmp_path, fake_upstream_server.base_url))}
    with serve(tmp_path, fake_upstream_server.base_url, env=env) as served:
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

            assert "Hello from LiteLLM." in await _streamed(client, "demo")
            assert await _litellm_loaded(client)
