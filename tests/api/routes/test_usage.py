"""Every path that calls a model leaves exactly one ledger row; usage reports group, filter, CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.api.billing_builders import ledger_rows, open_reservations, seated_member, v1
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, eventually

pytestmark = pytest.mark.anyio

Call = Callable[[], Awaitable[httpx.Response | None]]


async def _one_more_row(harness: AppHarness, before: int, what: str) -> None:
    """Wait (bounded) until the ledger has one row more than `before` and nothing is held."""
    factory = harness.services.sessions

    async def settled() -> bool:
        rows, held = await ledger_rows(factory), await open_reservations(factory)
        assert len(rows) > before and not held, f"{what}: no terminal ledger row"
        assert len(rows) == before + 1, (what, [(r.source, r.outcome) for r in rows])
        return True

    await eventually(settled, seconds=10)


async def test_every_path_that_calls_a_model_leaves_exactly_one_ledger_row_per_call(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    client, admin = harness.client, harness.admin
    chat_id = await harness.chat(admin)
    messages = f"/api/chats/{chat_id}/messages"

    async def latest_answer() -> str:
        listed = await client.get(messages, headers=admin.headers)
        return str(listed.json()["_embedded"]["messages"][-1]["id"])

    async def regenerate(stream: bool) -> httpx.Response:
        path = f"{messages}/{await latest_answer()}/_regenerate"
        return await client.post(path, json={"stream": stream}, headers=admin.headers)

    def breaking(call: Call) -> Call:
        async def run() -> httpx.Response | None:
            upstream.behave("fake", chunks=8, break_after=3)
            try:
                return await call()
            except RuntimeError:
                # /v1 ends the HTTP response abruptly when the provider breaks mid-stream (see
                # test_a_v1_stream_the_provider_breaks_ends_with_an_error_chunk); billing must not.
                return None
            finally:
                upstream.behave("fake")

        return run

    def failing(call: Call) -> Call:
        async def run() -> httpx.Response | None:
            upstream.behave("fake", fail_status=500)
            try:
                return await call()
            finally:
                upstream.behave("fake")

        return run

    def send(stream: bool) -> Call:
        return lambda: client.post(
            messages, json={"content": "hi", "stream": stream}, headers=admin.headers
        )

    paths: list[tuple[str, str, str, Call]] = [
        ("chat send", "chat", "completed", send(False)),
        ("chat send, streamed", "chat", "completed", send(True)),
        ("regenerate", "regenerate", "completed", lambda: regenerate(False)),
        ("regenerate, streamed", "regenerate", "completed", lambda: regenerate(True)),
        ("/v1", "v1", "completed", lambda: v1(client, admin)),
        ("/v1, streamed", "v1", "completed", lambda: v1(client, admin, stream=True)),
        ("/v1, provider down", "v1", "failed", failing(lambda: v1(client, admin))),
        (
            "/v1 streamed, stream breaks",
            "v1",
            "failed",
            breaking(lambda: v1(client, admin, stream=True)),
        ),
        ("chat, provider down", "chat", "failed", failing(send(False))),
        ("chat streamed, stream breaks", "chat", "failed", breaking(send(True))),
    ]
    for what, source, outcome, call in paths:
        before = len(await ledger_rows(harness.services.sessions))
        await call()
        await _one_more_row(harness, before, what)
        last = (await ledger_rows(harness.services.sessions))[-1]
        assert (last.source, last.outcome) == (source, outcome), what
    report = await client.get("/api/usage", params={"groupBy": "source"}, headers=admin.headers)
    counts = {
        row["group"]["source"]: row["requests"] for row in report.json()["_embedded"]["usage"]
    }
    assert (
        counts
        == Counter(source for _, source, _, _ in paths)
        == {"chat": 4, "regenerate": 2, "v1": 4}
    )


async def test_usage_groups_by_user_and_model_and_members_see_only_their_own(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", chunks=5, prompt_tokens=10)
    upstream.behave("fake-backup", chunks=2, prompt_tokens=10)
    client, admin = harness.client, harness.admin
    member = await seated_member(harness, "una")
    for caller, model in ((admin, "fake"), (admin, "fake-backup"), (member, "fake")):
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        assert (
            await client.post("/v1/chat/completions", json=body, headers=caller.headers)
        ).is_success
    by_user = await client.get(
        "/api/usage", params={"groupBy": "user,model"}, headers=admin.headers
    )
    rows = {
        (r["group"]["user"], r["group"]["model"]): (
            r["requests"],
            r["totalTokens"],
            r["costMicros"],
        )
        for r in by_user.json()["_embedded"]["usage"]
    }
    assert rows == {
        (admin.id, "fake"): (1, 15, 10 * 10 + 5 * 30),
        (admin.id, "fake-backup"): (1, 12, 10 * 10 + 2 * 30),
        (member.id, "fake"): (1, 15, 10 * 10 + 5 * 30),
    }
    theirs = await client.get(
        "/api/usage", params={"user": admin.id, "groupBy": "user"}, headers=member.headers
    )
    assert [(r["group"]["user"], r["requests"]) for r in theirs.json()["_embedded"]["usage"]] == [
        (member.id, 1)
    ]
    total = await client.get("/api/usage", params={"model": "fake"}, headers=admin.headers)
    [only] = total.json()["_embedded"]["usage"]
    assert (only["group"], only["requests"], only["promptTokens"]) == ({}, 2, 20)
    later = await client.get(
        "/api/usage", params={"from": "2999-01-01T00:00:00Z"}, headers=admin.headers
    )
    assert later.json()["total"] == 0


async def test_usage_comes_as_csv_when_asked_for_text_csv(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", chunks=3, prompt_tokens=7)
    admin = harness.admin
    for _ in range(2):
        assert (await v1(harness.client, admin)).status_code == 200
    response = await harness.client.get(
        "/api/usage",
        params={"groupBy": ["model", "day"]},
        headers={**admin.headers, "Accept": "text/csv"},
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    [header, row] = list(csv.reader(io.StringIO(response.text)))
    assert header == [
        "model",
        "day",
        "requests",
        "promptTokens",
        "completionTokens",
        "totalTokens",
        "costMicros",
    ]
    assert row[0] == "fake" and len(row[1]) == 10
    assert row[2:] == ["2", "14", "6", "20", str(14 * 10 + 6 * 30)]


async def test_bad_usage_queries_are_422s(harness: AppHarness) -> None:
    for params in ({"groupBy": "planet"}, {"groupBy": "user,user"}, {"from": "yesterday"}):
        response = await harness.client.get(
            "/api/usage", params=params, headers=harness.admin.headers
        )
        assert response.status_code == 422, params
        assert response.json()["code"] == "invalid_input"


async def test_a_v1_stream_the_provider_breaks_ends_with_an_error_chunk(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", chunks=8, break_after=3)
    response = await v1(harness.client, harness.admin, stream=True)
    assert response.status_code == 200 and '"error"' in response.text
    assert '"code":"provider_unavailable"' in response.text and "[DONE]" not in response.text
