"""LiteLLM's provider clients are shared by every caller: a cookie a provider sets on one caller's
call is never sent with another's, on each path a call takes through LiteLLM and in each provider
format (tests/fakes: OpenAI's, Anthropic's, Gemini's, Ollama's, Azure's)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace

import pytest

from core.catalog import parse_catalog
from tests.api.billing_builders import add_seats, join
from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.azure_upstream import AzureUpstream
from tests.fakes.formats import FormatFake
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.ollama_upstream import OllamaUpstream
from tests.fakes.upstream import FakeUpstream
from tests.support import FAKE_PRICE, AppHarness, Caller, Harnesses, make_catalog, parse_sse

pytestmark = pytest.mark.anyio
Call = Callable[[AppHarness, Caller], Awaitable[None]]
FORMATS: dict[str, type[FormatFake]] = {
    "anthropic": AnthropicUpstream,
    "gemini": GeminiUpstream,
    "ollama": OllamaUpstream,
    "azure": AzureUpstream,
}
COOKIE = "session=of-alice; Path=/"


def _localhost(url: str) -> str:
    """The fake's address by name: httpx's cookie jar keeps a bare IP's cookies too, aiohttp's
    does not; a host name makes the test catch either."""
    return url.replace("127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def formats() -> Iterator[dict[str, FormatFake]]:
    started = {name: kind().start() for name, kind in FORMATS.items()}
    yield started
    for fake in started.values():
        fake.stop()


@pytest.fixture(scope="module")
async def app(
    make_module_harness: Harnesses,
    fake_upstream_server: FakeUpstream,
    formats: dict[str, FormatFake],
) -> AsyncIterator[AppHarness]:
    """An app calling every fake through LiteLLM only (no fast path): `fake` and `embed` on the
    OpenAI-format fake, and a model named for each other format on its fake."""
    catalog = make_catalog(_localhost(fake_upstream_server.base_url), embed={"mode": "embedding"})
    info = {**FAKE_PRICE, "max_input_tokens": 4096, "max_output_tokens": 1000}
    model_list = []
    for name, fake in formats.items():
        params = fake.params("main")
        params["api_base"] = _localhost(params["api_base"])
        model_list.append({"model_name": name, "litellm_params": params, "model_info": info})
    added = parse_catalog({"model_list": model_list}, source="provider formats")
    catalog = replace(catalog, models={**catalog.models, **added.models})
    yield await make_module_harness(catalog=catalog, fast_path=False)


async def _seated(app: AppHarness, username: str) -> Caller:
    """A new user holding a seat of a new team of their own."""
    made = await app.member(username)
    team = await app.client.post(
        "/api/teams", json={"name": f"Team of {username}"}, headers=app.admin.headers
    )
    assert team.status_code == 201, team.text
    team_id = team.json()["id"]
    await join(app, team_id, made)
    await add_seats(app, team_id, 1)
    seat = await app.client.post(
        f"/api/teams/{team_id}/seats", json={"userId": made.id}, headers=app.admin.headers
    )
    assert seat.status_code == 201, seat.text
    return made


@pytest.fixture(scope="module")
async def callers(app: AppHarness) -> tuple[Caller, Caller]:
    """Alice and Bob, of two teams."""
    return await _seated(app, "alice"), await _seated(app, "bob")


async def _streamed_chat(app: AppHarness, caller: Caller, model: str = "fake") -> None:
    chat_id = await app.chat(caller, model=model)
    answer = await app.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "Hello", "stream": True},
        headers=caller.headers,
    )
    assert answer.status_code == 200, answer.text
    assert parse_sse(answer.text)[-1][1] == "done", answer.text


async def _whole_completion(app: AppHarness, caller: Caller) -> None:
    body = {"model": "fake", "messages": [{"role": "user", "content": "Hello"}]}
    answer = await app.client.post("/v1/chat/completions", json=body, headers=caller.headers)
    assert answer.status_code == 200, answer.text


async def _anthropic_message(app: AppHarness, caller: Caller) -> None:
    body = {"model": "fake", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
    headers = {"anthropic-version": "2023-06-01", **caller.headers}
    answer = await app.client.post("/v1/messages", json=body, headers=headers)
    assert answer.status_code == 200, answer.text


async def _embeddings(app: AppHarness, caller: Caller) -> None:
    body = {"model": "embed", "input": ["Hello"]}
    answer = await app.client.post("/v1/embeddings", json=body, headers=caller.headers)
    assert answer.status_code == 200, answer.text


async def _embeddings_blocking(app: AppHarness, caller: Caller) -> None:
    """As knowledge's indexing embeds: blocking, from a worker thread (LiteLLM's sync client)."""
    gateway = app.services.gateway
    model = app.services.catalog.models["embed"]
    await asyncio.to_thread(gateway.embed_sync, model, ["Hello"])


@pytest.mark.parametrize(
    "call",
    [_streamed_chat, _whole_completion, _anthropic_message, _embeddings, _embeddings_blocking],
    ids=["chat-streamed", "v1-whole", "v1-messages", "v1-embeddings", "embeddings-blocking"],
)
async def test_a_cookie_a_provider_sets_for_one_caller_is_never_sent_with_another_callers_call(
    app: AppHarness, callers: tuple[Caller, Caller], upstream: FakeUpstream, call: Call
) -> None:
    for model in ("fake", "embed"):
        upstream.behave(model, set_cookie=COOKIE)
    alice, bob = callers

    await call(app, alice)
    await call(app, bob)

    sent = [headers.get("cookie") for headers in upstream.recorder.headers]
    assert len(sent) == 2
    assert sent == [None, None]


@pytest.mark.parametrize("name", list(FORMATS))
async def test_no_provider_format_sends_one_callers_cookie_with_another_callers_call(
    app: AppHarness, callers: tuple[Caller, Caller], formats: dict[str, FormatFake], name: str
) -> None:
    fake = formats[name]
    fake.reset()
    fake.set_cookie = COOKIE
    alice, bob = callers

    await _streamed_chat(app, alice, model=name)
    await _streamed_chat(app, bob, model=name)

    with fake.recorder.lock:
        sent = [seen.headers.get("cookie") for seen in fake.recorder.requests]
    assert sent == [None, None]
