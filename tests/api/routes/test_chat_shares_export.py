"""Exporting a chat as Markdown or JSON, and read-only share links to a snapshot of it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select

from assistant.chat.share_links import token_hash
from assistant.models import ChatShare
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Harnesses, slowest_health_while

pytestmark = pytest.mark.anyio


async def say(harness: AppHarness, chat_id: str, text: str) -> dict[str, Any]:
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": text}, headers=harness.admin.headers
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_markdown_export_holds_the_active_branch_as_an_attachment(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="Use a **list** comprehension.", chunks=2)
    chat_id = await harness.chat(harness.admin, title="Python: tips & tricks!")
    await say(harness, chat_id, "How do I square numbers?")
    response = await harness.client.get(
        f"/api/chats/{chat_id}/_export",
        params={"format": "markdown"},
        headers=harness.admin.headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/markdown")
    disposition = response.headers["content-disposition"]
    assert disposition == 'attachment; filename="python-tips-tricks.md"'
    text = response.text
    assert text.startswith("# Python: tips & tricks!\n")
    question = text.index("## You\n\nHow do I square numbers?")
    assert text.index("## Assistant (fake)\n\nUse a **list** comprehension.") > question


async def test_json_export_carries_messages_with_usage(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="forty-two", chunks=1, prompt_tokens=12)
    chat_id = await harness.chat(harness.admin, title="Answers")
    answer = await say(harness, chat_id, "the answer?")
    response = await harness.client.get(
        f"/api/chats/{chat_id}/_export", params={"format": "json"}, headers=harness.admin.headers
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="answers.json"'
    body = json.loads(response.text)
    assert body["format"] == "switchboard.chat/1" and body["id"] == chat_id
    question, saved = body["messages"]
    assert question["role"] == "user" and question["content"] == "the answer?"
    assert saved["id"] == answer["id"] and saved["parentId"] == question["id"]
    assert saved["promptTokens"] == 12 and saved["costMicros"] == answer["costMicros"] > 0


async def test_bad_exports_are_clear_4xx(harness: AppHarness) -> None:
    chat_id = await harness.chat(harness.admin)
    path = f"/api/chats/{chat_id}/_export"
    wrong = await harness.client.get(path, params={"format": "pdf"}, headers=harness.admin.headers)
    assert wrong.status_code == 422 and wrong.json()["code"]
    assert (await harness.client.get(path)).status_code == 401
    other = await harness.member("other")
    assert (await harness.client.get(path, headers=other.headers)).status_code == 404


async def test_a_share_shows_the_chat_as_it_was_until_revoked(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="shared **answer** <img src=x onerror=alert(1)>", chunks=1)
    chat_id = await harness.chat(harness.admin, title="Shared chat")
    await say(harness, chat_id, "before sharing")
    made = await harness.client.post(f"/api/chats/{chat_id}/shares", headers=harness.admin.headers)
    assert made.status_code == 201, made.text
    share = made.json()
    token = share["token"]
    assert len(token) >= 32 and share["url"].endswith(f"/#/shared/{token}")
    assert share["apiUrl"].endswith(f"/api/shared/{token}")

    upstream.behave("fake", text="private later answer", chunks=1)
    await say(harness, chat_id, "after sharing")
    public = await harness.client.get(f"/api/shared/{token}")  # no login
    assert public.status_code == 200, public.text
    snapshot = public.json()
    assert snapshot["title"] == "Shared chat"
    assert [(m["role"], m["content"]) for m in snapshot["messages"]] == [
        ("user", "before sharing"),
        ("assistant", "shared **answer** <img src=x onerror=alert(1)>"),
    ]
    rendered = snapshot["messages"][1]["contentHtml"]  # rendered and sanitised on the server
    assert "<strong>answer</strong>" in rendered and "<img" not in rendered
    assert "costMicros" not in json.dumps(snapshot)

    listed = await harness.client.get(f"/api/chats/{chat_id}/shares", headers=harness.admin.headers)
    assert [s["id"] for s in listed.json()["_embedded"]["shares"]] == [share["id"]]
    assert "token" not in listed.json()["_embedded"]["shares"][0]
    revoked = await harness.client.delete(
        f"/api/chats/{chat_id}/shares/{share['id']}", headers=harness.admin.headers
    )
    assert revoked.status_code == 204
    gone = await harness.client.get(f"/api/shared/{token}")
    assert gone.status_code == 404 and gone.json()["code"] == "share_not_found"
    listed = await harness.client.get(f"/api/chats/{chat_id}/shares", headers=harness.admin.headers)
    assert listed.json()["_embedded"]["shares"][0]["revokedAt"] is not None


async def test_share_tokens_are_random_and_stored_only_hashed(harness: AppHarness) -> None:
    chat_id = await harness.chat(harness.admin)
    tokens = []
    for _ in range(2):
        made = await harness.client.post(
            f"/api/chats/{chat_id}/shares", headers=harness.admin.headers
        )
        tokens.append(made.json()["token"])
    assert tokens[0] != tokens[1]
    async with harness.services.sessions() as session:
        rows = list(await session.scalars(select(ChatShare)))
    assert {r.token_hash for r in rows} == {token_hash(t) for t in tokens}
    assert all(t not in json.dumps(r.snapshot) + r.token_hash for r in rows for t in tokens)
    unknown = await harness.client.get("/api/shared/not-a-real-token")
    assert unknown.status_code == 404 and unknown.json()["code"] == "share_not_found"


async def test_only_the_owner_manages_a_chats_shares(harness: AppHarness) -> None:
    chat_id = await harness.chat(harness.admin)
    made = await harness.client.post(f"/api/chats/{chat_id}/shares", headers=harness.admin.headers)
    share_id = made.json()["id"]
    other = await harness.member("other")
    base = f"/api/chats/{chat_id}/shares"
    for method, path in (("POST", base), ("GET", base), ("DELETE", f"{base}/{share_id}")):
        assert (
            await harness.client.request(method, path, headers=other.headers)
        ).status_code == 404
        assert (await harness.client.request(method, path)).status_code == 401
    missing = await harness.client.delete(f"{base}/nope", headers=harness.admin.headers)
    assert missing.status_code == 404 and missing.json()["code"] == "share_not_found"


async def test_deleting_a_chat_ends_its_share_links(harness: AppHarness) -> None:
    chat_id = await harness.chat(harness.admin)
    made = await harness.client.post(f"/api/chats/{chat_id}/shares", headers=harness.admin.headers)
    token = made.json()["token"]
    assert (await harness.client.get(f"/api/shared/{token}")).status_code == 200
    deleted = await harness.client.delete(f"/api/chats/{chat_id}", headers=harness.admin.headers)
    assert deleted.status_code == 204
    assert (await harness.client.get(f"/api/shared/{token}")).status_code == 404


async def test_opening_a_share_of_huge_answers_never_holds_the_server(
    make_harness: Harnesses, upstream: FakeUpstream
) -> None:
    # Seconds enough to render on a loaded machine: this is about the server staying free, the
    # time limit's refusal is tested with the rendering pool (tests/api/test_markdown.py).
    harness = await make_harness(markdown_seconds=60.0)
    table = "| a | b |\n|---|---|\n" + "| *x* | `y` |\n" * 10_000
    upstream.behave("fake", text=table, chunks=20)
    chat_id = await harness.chat(harness.admin)
    for question in ("one", "two", "three"):
        await say(harness, chat_id, question)
    made = await harness.client.post(f"/api/chats/{chat_id}/shares", headers=harness.admin.headers)
    path = f"/api/shared/{made.json()['token']}"

    opening = asyncio.ensure_future(harness.client.get(path, timeout=60))
    slowest = await slowest_health_while(harness.client, opening)
    public = await opening
    assert public.status_code == 200, public.text
    answers = [m for m in public.json()["messages"] if m["role"] == "assistant"]
    assert len(answers) == 3 and all(m["contentHtml"].count("<tr>") > 10_000 for m in answers)
    assert slowest < 0.25  # inline, the three answers held every request for seconds
