"""`/v1/embeddings` through the real `openai` SDK: a catalog embedding model over LiteLLM to the
fake upstream, the bundled local model with real vectors, batching, base64, and billing."""

from __future__ import annotations

import asyncio
import base64
import math
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx2
import openai
import pytest

from assistant.gateway.vectors import PROVIDER_BATCH
from core.catalog import Catalog, parse_catalog
from knowledge.embedding_worker import WorkerEmbedder
from knowledge.embeddings import Embedder, load_embedder
from knowledge.index import VectorIndex
from tests.api.billing_builders import create_budget, ledger_rows, seated_member
from tests.fakes.upstream import EMBEDDING_DIMENSION, FakeUpstream, hashed_vector
from tests.knowledge.conftest import MODEL_CACHE
from tests.support import AppHarness, Caller, Harnesses, make_catalog

pytestmark = pytest.mark.anyio

UPSTREAM_MODEL = "text-embedding-3-small"  # LiteLLM passes `dimensions` for this name only
LOCAL = {
    "model_name": "local-embedding",
    "litellm_params": {"model": "sentence-transformers/all-MiniLM-L6-v2"},
    "model_info": {"mode": "embedding", "input_cost_per_token": 0, "output_cost_per_token": 0},
}


def _catalog(upstream: FakeUpstream) -> Catalog:
    """The test catalog plus `embed` (the fake's /v1/embeddings, $10 per million tokens in: 10
    micro-dollars a token) and the bundled local model."""
    embed = {
        "model_name": "embed",
        "litellm_params": {
            "model": f"openai/{UPSTREAM_MODEL}",
            "api_base": upstream.base_url,
            "api_key": "test-key",
        },
        "model_info": {"mode": "embedding", "input_cost_per_token": 10e-6},
    }
    added = parse_catalog({"model_list": [embed, LOCAL]}, source="embedding models")
    catalog = make_catalog(upstream.base_url)
    return replace(catalog, models={**catalog.models, **added.models})


async def _app(make_harness: Harnesses, upstream: FakeUpstream, **settings: Any) -> AppHarness:
    """The app with both embedding models (the local one from the shared ONNX export cache)."""
    values = {"embedding_backend": "onnx", "embedding_cache_dir": MODEL_CACHE, **settings}
    return await make_harness(catalog=_catalog(upstream), **values)


@asynccontextmanager
async def _sdk(harness: AppHarness, caller: Caller) -> AsyncIterator[openai.AsyncOpenAI]:
    """The real OpenAI SDK, talking HTTP to the app in process, as `caller`."""
    token = caller.headers["Authorization"].removeprefix("Bearer ")
    transport = httpx2.ASGITransport(app=harness.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield openai.AsyncOpenAI(
            base_url="http://testserver/v1", api_key=token, http_client=http, max_retries=0
        )


def _embedding_bodies(upstream: FakeUpstream) -> list[dict[str, Any]]:
    with upstream.recorder.lock:
        return [body for body in upstream.recorder.requests if "input" in body]


def _close(got: list[float], want: list[float], tolerance: float = 1e-6) -> bool:
    return len(got) == len(want) and all(
        abs(a - b) <= tolerance for a, b in zip(got, want, strict=True)
    )


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "litellm-path"])
async def test_a_catalog_embedding_model_answers_the_openai_sdk_on_both_paths(
    make_harness: Harnesses, upstream: FakeUpstream, fast_path: bool
) -> None:
    harness = await _app(make_harness, upstream, fast_path=fast_path)
    texts = ["harbour crane lifts containers", "fog delays the ferry", "one"]
    async with _sdk(harness, harness.admin) as client:
        made = await client.embeddings.create(model="embed", input=texts, encoding_format="float")
        single = await client.embeddings.create(
            model="embed", input="fog delays", dimensions=16, user="user-7"
        )
        tokens = await client.embeddings.create(model="embed", input=[[1, 2, 3], [4]])
    assert made.object == "list" and made.model == "embed"
    assert [item.index for item in made.data] == [0, 1, 2]
    for item, text in zip(made.data, texts, strict=True):
        assert item.object == "embedding" and item.embedding == hashed_vector(text)
    assert made.usage.prompt_tokens == made.usage.total_tokens == 4 + 4 + 1  # the fake's words
    # The SDK's default is base64: decoded, the float32 values are the provider's floats.
    assert len(single.data) == 1 and len(single.data[0].embedding) == 16
    assert _close(single.data[0].embedding, hashed_vector("fog delays", 16))
    assert len(tokens.data) == 2
    bodies = _embedding_bodies(upstream)
    assert bodies[1]["dimensions"] == 16 and bodies[1]["user"] == "user-7"
    assert bodies[2]["input"] == [[1, 2, 3], [4]]


async def test_the_bundled_local_model_gives_knowledges_own_vectors_for_free(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await _app(make_harness, upstream)
    texts = [
        "The quayside crane lifts containers from the barge.",
        "A crane at the port moves shipping containers.",
        "Fog delays the ferry to the lighthouse island every November.",
    ]
    async with _sdk(harness, harness.admin) as client:
        made = await client.embeddings.create(
            model="local-embedding", input=texts, encoding_format="float"
        )
        packed = await client.embeddings.create(model="local-embedding", input=texts[0])
    _, knowledge_embedder = await _ready(harness)
    expected = knowledge_embedder.embed_documents(texts)
    vectors = [item.embedding for item in made.data]
    assert [len(vector) for vector in vectors] == [384, 384, 384]
    assert all(_close(got, want) for got, want in zip(vectors, expected, strict=True))
    assert _close(packed.data[0].embedding, expected[0])  # base64 float32 round trip
    # Real vectors: the two texts about cranes are closer than crane and fog.
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2]) + 0.2
    assert made.model == "local-embedding" and made.usage.prompt_tokens > 0
    assert _embedding_bodies(upstream) == []  # no provider was called
    rows = await ledger_rows(harness.services.sessions)
    assert [(r.source, r.model, r.outcome, r.cost_micros) for r in rows] == [
        ("v1", "local-embedding", "completed", 0),
        ("v1", "local-embedding", "completed", 0),
    ]
    assert rows[0].prompt_tokens == made.usage.prompt_tokens
    # In knowledge's worker process, not this one: the server never holds the model.
    local = harness.services.gateway.local
    assert local is not None
    deployment = harness.services.gateway.catalog.models["local-embedding"].deployments[0]
    assert await asyncio.to_thread(local.embedder, deployment) is knowledge_embedder
    assert isinstance(knowledge_embedder, WorkerEmbedder)


async def _ready(harness: AppHarness) -> tuple[VectorIndex, Embedder]:
    """Knowledge's own index and embedder (opened in a thread, as knowledge does)."""
    return await asyncio.to_thread(harness.services.knowledge.store.ready)


async def test_many_inputs_are_embedded_in_batches_in_order(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await _app(make_harness, upstream)
    count = PROVIDER_BATCH * 2 + 5
    texts = [f"word{i} shared" for i in range(count)]
    async with _sdk(harness, harness.admin) as client:
        made = await client.embeddings.create(model="embed", input=texts)
        local = await client.embeddings.create(model="local-embedding", input=texts[:70])
    assert [item.index for item in made.data] == list(range(count))
    assert all(
        _close(item.embedding, hashed_vector(text))
        for item, text in zip(made.data, texts, strict=True)
    )
    sizes = sorted(len(body["input"]) for body in _embedding_bodies(upstream))
    assert sizes == [5, PROVIDER_BATCH, PROVIDER_BATCH]
    assert made.usage.prompt_tokens == 2 * count  # summed over the provider's batches
    single = load_embedder(cache_dir=MODEL_CACHE).embed_documents([texts[69]])[0]
    assert len(local.data) == 70 and _close(local.data[69].embedding, single)
    first = (await ledger_rows(harness.services.sessions))[0]
    assert (first.model, first.prompt_tokens, first.cost_micros) == ("embed", 2 * count, 20 * count)


async def test_base64_is_little_endian_float32_as_openai_sends_it(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await _app(make_harness, upstream)
    body = {"model": "embed", "input": "fog delays", "encoding_format": "base64"}
    response = await harness.client.post("/v1/embeddings", json=body, headers=harness.admin.headers)
    assert response.status_code == 200, response.text
    packed = base64.b64decode(response.json()["data"][0]["embedding"])
    values = list(struct.unpack(f"<{EMBEDDING_DIMENSION}f", packed))
    assert _close(values, hashed_vector("fog delays"))


async def test_embedding_models_are_listed_with_their_mode(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await _app(make_harness, upstream)
    async with _sdk(harness, harness.admin) as client:
        listed = {model.id async for model in client.models.list()}
    assert {"embed", "local-embedding", "fake"} <= listed
    response = await harness.client.get("/api/models", headers=harness.admin.headers)
    modes = {m["name"]: m["mode"] for m in response.json()["_embedded"]["models"]}
    assert modes["embed"] == modes["local-embedding"] == "embedding" and modes["fake"] == "chat"


async def test_chat_models_are_refused_for_embeddings_and_embedding_models_for_chat(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await _app(make_harness, upstream)
    async with _sdk(harness, harness.admin) as client:
        with pytest.raises(openai.BadRequestError) as chat_model:
            await client.embeddings.create(model="fake", input="hi")
        with pytest.raises(openai.BadRequestError) as embedding_model:
            await client.chat.completions.create(
                model="embed", messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(openai.NotFoundError):
            await client.embeddings.create(model="no-such-model", input="hi")
    chat = await harness.client.post(
        "/api/chats", json={"model": "embed"}, headers=harness.admin.headers
    )
    if chat.status_code == 201:  # a chat may name it; its first turn is refused
        chat = await harness.client.post(
            f"/api/chats/{chat.json()['id']}/messages",
            json={"content": "hi"},
            headers=harness.admin.headers,
        )
    assert chat.status_code == 422 and chat.json()["code"] == "wrong_model_mode", chat.text
    assert chat_model.value.code == embedding_model.value.code == "wrong_model_mode"
    assert "not an embedding model" in chat_model.value.message
    assert "/v1/embeddings" in embedding_model.value.message
    assert upstream.recorder.count() == 0
    assert not await ledger_rows(harness.services.sessions)


async def test_too_many_inputs_or_tokens_are_refused_before_any_model_call(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await _app(make_harness, upstream, embedding_max_inputs=3, embedding_max_tokens=20)
    async with _sdk(harness, harness.admin) as client:
        with pytest.raises(openai.BadRequestError) as inputs:
            await client.embeddings.create(model="embed", input=["a", "b", "c", "d"])
        with pytest.raises(openai.BadRequestError) as tokens:
            await client.embeddings.create(model="local-embedding", input="word " * 40)
        with pytest.raises(openai.BadRequestError) as empty:
            await client.embeddings.create(model="embed", input=[])
    assert inputs.value.code == tokens.value.code == "too_many_embedding_inputs"
    assert "at most 3 inputs" in inputs.value.message
    assert "at most 20 tokens" in tokens.value.message
    assert empty.value.param == "input"
    assert upstream.recorder.count() == 0
    assert not await ledger_rows(harness.services.sessions)


async def test_budget_and_seat_refusals_reach_the_sdk_as_status_errors(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await _app(make_harness, upstream)
    admin = harness.admin
    await create_budget(harness, name="Tight", scope="user", scopeId=admin.id, limitMicros=5)
    unseated = await harness.member("no-seat")
    async with _sdk(harness, admin) as client:
        with pytest.raises(openai.RateLimitError) as budget:
            await client.embeddings.create(model="embed", input="three words here")
        # Free: the local model fits any budget.
        free = await client.embeddings.create(model="local-embedding", input="three words")
    async with _sdk(harness, unseated) as client:
        with pytest.raises(openai.PermissionDeniedError) as seat:
            await client.embeddings.create(model="local-embedding", input="hi")
    assert budget.value.type == "insufficient_quota" and budget.value.code == "budget_exceeded"
    assert "Tight" in budget.value.message
    assert seat.value.code == "seat_required"
    assert len(free.data) == 1
    assert _embedding_bodies(upstream) == []
    rows = await ledger_rows(harness.services.sessions)
    assert [(r.model, r.user_id) for r in rows] == [("local-embedding", admin.id)]


async def test_rate_limits_apply_and_answers_carry_openais_rate_headers(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await _app(make_harness, upstream, rate_limit_user_rpm=2)
    async with _sdk(harness, harness.admin) as client:
        raw = await client.embeddings.with_raw_response.create(model="embed", input="one two")
        await client.embeddings.create(model="local-embedding", input="three")
        with pytest.raises(openai.RateLimitError) as limited:
            await client.embeddings.create(model="embed", input="four")
    assert raw.headers["x-ratelimit-limit-requests"] == "2"
    assert raw.headers["x-ratelimit-remaining-requests"] == "1"
    assert raw.parse().usage.prompt_tokens == 2
    assert limited.value.code == "rate_limited"
    assert len(_embedding_bodies(upstream)) == 1


async def test_usage_is_recorded_per_user_and_one_user_never_sees_anothers(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    harness = await _app(make_harness, upstream)
    alice = await seated_member(harness, "alice")
    bob = await seated_member(harness, "bob")
    async with _sdk(harness, alice) as client:
        await client.embeddings.create(model="embed", input=["one two", "three"])
    rows = await ledger_rows(harness.services.sessions)
    assert [(r.user_id, r.source, r.model, r.prompt_tokens, r.cost_micros) for r in rows] == [
        (alice.id, "v1", "embed", 3, 30)
    ]

    async def report(caller: Caller) -> dict[str, Any]:
        query = {"groupBy": "source,model"}
        response = await harness.client.get("/api/usage", params=query, headers=caller.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    mine = (await report(alice))["_embedded"]["usage"]
    assert [(r["group"], r["requests"], r["costMicros"]) for r in mine] == [
        ({"source": "v1", "model": "embed"}, 1, 30)
    ]
    assert (await report(bob))["_embedded"]["usage"] == []
    assert (await ledger_rows(harness.services.sessions, user_id=bob.id)) == []
