"""Embeddings through LiteLLM: files indexed and searched with a catalog embedding model, every
provider call metered by billing (uploader pays for indexing, searcher for queries)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from billing.models import LedgerEntry
from tests.api.billing_builders import (
    admin_team,
    create_budget,
    ledger_rows,
    open_reservations,
    seated_member,
)
from tests.fakes.upstream import EMBEDDING_DIMENSION, FakeUpstream
from tests.knowledge.apps import search, upload, wait_settled
from tests.support import AppHarness, Harnesses, make_catalog

pytestmark = pytest.mark.anyio

# $10 per million tokens in, nothing out: 10 micro-dollars per token.
EMBED_PRICE = {"input_cost_per_token": 10e-6, "output_cost_per_token": 0.0}
NOTES = (
    b"# Harbour logistics\n\nThe quayside crane QX-4471 lifts containers from the barge.\n\n"
    b"## Weather\n\nFog delays the ferry to the lighthouse island every November.\n"
)


def litellm_app(
    harnesses: Harnesses, upstream: FakeUpstream, **info: Any
) -> AbstractAsyncContextManager[AppHarness]:
    """The app embedding with the catalog model `embed` (the fake upstream's /v1/embeddings)."""
    catalog = make_catalog(
        upstream.base_url, embed={"output_vector_size": EMBEDDING_DIMENSION, **EMBED_PRICE, **info}
    )
    return harnesses.running(catalog=catalog, embedding_backend="litellm", embedding_model="embed")


def _embedding_calls(upstream: FakeUpstream) -> int:
    with upstream.recorder.lock:
        return sum(1 for body in upstream.recorder.requests if "input" in body)


def _embedding_rows(rows: list[LedgerEntry]) -> list[LedgerEntry]:
    return [row for row in rows if row.source == "embedding"]


async def test_a_file_is_indexed_and_found_through_litellm_and_each_call_is_billed(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    async with litellm_app(make_harness, upstream) as harness:
        admin = harness.admin
        [item] = await upload(harness, admin, {"harbour.md": NOTES})
        settled = (await wait_settled(harness, admin, [item["id"]]))[item["id"]]
        assert settled["status"] == "indexed", settled
        indexing_calls = _embedding_calls(upstream)
        assert indexing_calls >= 1

        passages = await search(harness, admin, query="quayside crane QX-4471 containers")
        assert passages and passages[0]["citation"]["fileId"] == item["id"], passages
        assert _embedding_calls(upstream) == indexing_calls + 1

        rows = _embedding_rows(list(await ledger_rows(harness.services.sessions)))
        assert len(rows) == indexing_calls + 1  # every provider call has its ledger row
        assert all(row.user_id == admin.id and row.outcome == "completed" for row in rows)
        assert all(row.model == "embed" and row.completion_tokens == 0 for row in rows)
        assert all(row.cost_micros == row.prompt_tokens * 10 > 0 for row in rows)
        report = await harness.client.get(
            "/api/usage", params={"groupBy": "source,model"}, headers=admin.headers
        )
        assert report.status_code == 200, report.text
        [usage] = [
            row
            for row in report.json()["_embedded"]["usage"]
            if row["group"] == {"source": "embedding", "model": "embed"}
        ]
        assert usage["requests"] == len(rows)
        assert usage["costMicros"] == sum(row.cost_micros for row in rows) > 0
        assert not await open_reservations(harness.services.sessions)


async def test_a_search_is_billed_to_the_user_who_searches(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    async with litellm_app(make_harness, upstream) as harness:
        member = await seated_member(harness, "searcher")
        assert await search(harness, member, query="fog over the lighthouse") == []
        [row] = _embedding_rows(list(await ledger_rows(harness.services.sessions)))
        assert (row.user_id, row.model, row.outcome) == (member.id, "embed", "completed")


async def test_a_team_file_is_billed_to_its_uploader_under_the_team_budget(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    async with litellm_app(make_harness, upstream) as harness:
        team_id = await admin_team(harness)
        member = await seated_member(harness, "uploader")
        [item] = await upload(harness, member, {"harbour.md": NOTES}, teamId=team_id)
        assert item["teamId"] == team_id, item
        settled = (await wait_settled(harness, member, [item["id"]]))[item["id"]]
        assert settled["status"] == "indexed", settled
        rows = _embedding_rows(list(await ledger_rows(harness.services.sessions)))
        assert rows and all(row.user_id == member.id for row in rows)
        assert all(row.team_id == team_id for row in rows), [row.team_id for row in rows]


async def test_an_exhausted_budget_fails_indexing_with_its_reason_and_refuses_search_with_402(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    async with litellm_app(make_harness, upstream) as harness:
        admin = harness.admin
        await create_budget(harness, name="Tiny", scope="user", scopeId=admin.id, limitMicros=1)
        [item] = await upload(harness, admin, {"harbour.md": NOTES})
        failed = (await wait_settled(harness, admin, [item["id"]]))[item["id"]]
        assert failed["status"] == "failed", failed
        assert "Tiny" in failed["error"], failed

        response = await harness.client.post(
            "/api/knowledge/search", json={"query": "crane"}, headers=admin.headers
        )
        assert response.status_code == 402, response.text
        assert response.json()["code"] == "budget_exceeded"
        assert _embedding_calls(upstream) == 0  # refused before any provider call


async def test_an_unpriced_embedding_model_is_refused_under_a_money_budget(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    unpriced = {"input_cost_per_token": None, "output_cost_per_token": None}
    async with litellm_app(make_harness, upstream, **unpriced) as harness:
        admin = harness.admin
        await create_budget(harness, name="All", scope="global", limitMicros=10**9)
        response = await harness.client.post(
            "/api/knowledge/search", json={"query": "crane"}, headers=admin.headers
        )
        assert response.status_code == 402, response.text
        assert response.json()["code"] == "price_unknown"
        assert _embedding_calls(upstream) == 0


async def test_a_provider_failure_fails_the_file_and_settles_the_call(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    upstream.behave("embed", fail_status=500)
    async with litellm_app(make_harness, upstream) as harness:
        admin = harness.admin
        [item] = await upload(harness, admin, {"harbour.md": NOTES})
        failed = (await wait_settled(harness, admin, [item["id"]]))[item["id"]]
        assert failed["status"] == "failed", failed
        assert "embed" in failed["error"], failed
        rows = _embedding_rows(list(await ledger_rows(harness.services.sessions)))
        assert rows and all(row.outcome == "failed" and row.cost_micros == 0 for row in rows)
        assert not await open_reservations(harness.services.sessions)
