"""Branches: editing a message or regenerating an answer makes a new branch; the old stays."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from billing import seats
from core.database import write_transaction
from tests.api.chat_calls import listing, say, sent_to_model
from tests.fakes.upstream import FakeUpstream
from tests.support import ADMIN, AppHarness, Harnesses, database_at, parse_sse

pytestmark = pytest.mark.anyio


async def test_editing_a_message_streams_a_new_answer_on_a_new_branch(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="answer one", chunks=2)
    chat_id = await harness.chat(harness.admin)
    await say(harness, chat_id, "first question")
    upstream.behave("fake", text="answer two", chunks=2)
    await say(harness, chat_id, "second question")
    original = await listing(harness, chat_id)
    first_id = original[0]["id"]

    upstream.behave("fake", text="edited answer", chunks=3)
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages/{first_id}/_edit",
        json={"content": "edited question", "stream": True},
        headers=harness.admin.headers,
    )
    assert response.status_code == 200, response.text
    events = parse_sse(response.text)
    assert next(e[1] for e in events) == "start" and events[-1][1] == "done"
    assert "".join(e[2]["text"] for e in events if e[1] == "delta") == "edited answer"
    assert sent_to_model(upstream) == [("user", "edited question")]

    edited = await listing(harness, chat_id)
    assert [m["content"] for m in edited] == ["edited question", "edited answer"]
    assert edited[0]["siblingIds"] == [first_id, edited[0]["id"]]
    assert edited[0]["siblingIndex"] == 1 and edited[0]["parentId"] is None
    assert edited[1]["parentId"] == edited[0]["id"]
    everything = await listing(harness, chat_id, branch="all")
    assert len(everything) == 6


async def test_switching_back_shows_the_old_branch_and_the_chat_continues_from_it(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="reply", chunks=1)
    chat_id = await harness.chat(harness.admin)
    await say(harness, chat_id, "one")
    await say(harness, chat_id, "two")
    old_two = (await listing(harness, chat_id))[2]
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages/{old_two['id']}/_edit",
        json={"content": "two, edited"},
        headers=harness.admin.headers,
    )
    assert response.status_code == 201 and response.json()["content"] == "reply"
    assert [m["content"] for m in await listing(harness, chat_id)][2] == "two, edited"

    switched = await harness.client.post(
        f"/api/chats/{chat_id}/_switch",
        json={"messageId": old_two["id"]},
        headers=harness.admin.headers,
    )
    assert switched.status_code == 200, switched.text
    shown = await listing(harness, chat_id)
    assert [m["content"] for m in shown] == ["one", "reply", "two", "reply"]
    assert switched.json()["activeLeafId"] == shown[-1]["id"]
    assert shown[2]["siblingIndex"] == 0 and len(shown[2]["siblingIds"]) == 2
    paged = await harness.client.get(
        f"/api/chats/{chat_id}/messages",
        params={"start": 1, "limit": 2, "sort": "-createdAt"},
        headers=harness.admin.headers,
    )
    assert paged.json()["total"] == 4 and "next" in paged.json()["_links"]
    assert [m["content"] for m in paged.json()["_embedded"]["messages"]] == ["two", "reply"]

    await say(harness, chat_id, "three")
    assert sent_to_model(upstream) == [
        ("user", "one"),
        ("assistant", "reply"),
        ("user", "two"),
        ("assistant", "reply"),
        ("user", "three"),
    ]


async def test_history_of_an_edited_branch_leaves_out_the_old_branch(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="ok", chunks=1)
    chat_id = await harness.chat(harness.admin)
    await say(harness, chat_id, "keep this")
    await say(harness, chat_id, "secret old words")
    second_id = (await listing(harness, chat_id))[2]["id"]
    await harness.client.post(
        f"/api/chats/{chat_id}/messages/{second_id}/_edit",
        json={"content": "new words"},
        headers=harness.admin.headers,
    )
    await say(harness, chat_id, "and then")
    sent = sent_to_model(upstream)
    assert ("user", "keep this") in sent and ("user", "new words") in sent
    assert all("secret old words" not in content for _, content in sent)


async def test_regenerate_makes_a_sibling_answer_and_the_old_one_stays_switchable(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="first try", chunks=1)
    chat_id = await harness.chat(harness.admin)
    first = await say(harness, chat_id, "question")
    upstream.behave("fake", text="second try", chunks=1)
    again = await harness.client.post(
        f"/api/chats/{chat_id}/messages/{first['id']}/_regenerate",
        headers=harness.admin.headers,
    )
    assert again.status_code == 201, again.text
    assert again.json()["siblingIds"] == [first["id"], again.json()["id"]]
    shown = await listing(harness, chat_id)
    assert [m["content"] for m in shown] == ["question", "second try"]
    assert shown[1]["siblingIds"] == [first["id"], again.json()["id"]]
    assert shown[1]["siblingIndex"] == 1

    await harness.client.post(
        f"/api/chats/{chat_id}/_switch",
        json={"messageId": first["id"]},
        headers=harness.admin.headers,
    )
    assert [m["content"] for m in await listing(harness, chat_id)] == ["question", "first try"]


async def test_bad_branch_requests_are_clear_4xx(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    chat_id = await harness.chat(harness.admin)
    answer = await say(harness, chat_id, "hello")
    base = f"/api/chats/{chat_id}"
    headers = harness.admin.headers
    edit_answer = await harness.client.post(
        f"{base}/messages/{answer['id']}/_edit", json={"content": "x"}, headers=headers
    )
    assert edit_answer.status_code == 409 and edit_answer.json()["code"] == "not_a_user_message"
    unknown = await harness.client.post(
        f"{base}/messages/nope/_edit", json={"content": "x"}, headers=headers
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "message_not_found"
    empty = await harness.client.post(
        f"{base}/messages/{answer['id']}/_edit", json={"content": ""}, headers=headers
    )
    assert empty.status_code == 422
    switch = await harness.client.post(
        f"{base}/_switch", json={"messageId": "nope"}, headers=headers
    )
    assert switch.status_code == 404 and switch.json()["code"] == "message_not_found"
    for path, body in (
        (f"{base}/_switch", {"messageId": answer["id"]}),
        (f"{base}/messages/{answer['id']}/_edit", {"content": "x"}),
    ):
        assert (await harness.client.post(path, json=body)).status_code == 401
    other = await harness.member("stranger")
    foreign = await harness.client.post(
        f"{base}/_switch", json={"messageId": answer["id"]}, headers=other.headers
    )
    assert foreign.status_code == 404 and foreign.json()["code"] == "chat_not_found"


def _database_before_branches(path: Path) -> str:
    """A database at assistant_0006 whose admin has a linear chat."""
    stamp = "'2026-01-01 10:00:0{}'"
    rows = [
        "INSERT INTO core_user (id, username, display_name, email, password_hash, role, active,"
        f" created_at, updated_at) VALUES ('olduser0000000000000000001', '{ADMIN}', 'Old',"
        f" 'old@example.com', 'x', 'admin', TRUE, {stamp.format(0)}, {stamp.format(0)})",
        "INSERT INTO assistant_chat (id, user_id, title, knowledge_file_ids,"
        " knowledge_folder_ids, created_at, updated_at) VALUES ('oldchat000000000000000001',"
        f" 'olduser0000000000000000001', 'Old chat', '[]', '[]', {stamp.format(0)},"
        f" {stamp.format(4)})",
    ]
    turns = [("user", "old one"), ("assistant", "old reply"), ("user", "old two")]
    turns.append(("assistant", "old reply two"))
    for number, (role, content) in enumerate(turns, start=1):
        rows.append(
            "INSERT INTO assistant_message (id, chat_id, role, content, status, prompt_tokens,"
            " completion_tokens, cost_micros, usage_estimated, cancel_requested, dropped_turns,"
            f" created_at, updated_at) VALUES ('oldmsg{number:020d}', 'oldchat000000000000000001',"
            f" '{role}', '{content}', 'complete', 0, 0, 0, FALSE, FALSE, 0, {stamp.format(number)},"
            f" {stamp.format(number)})"
        )
    return database_at("assistant_0006", path, rows)


async def test_a_chat_from_before_branches_lists_in_order_and_continues(
    upstream: FakeUpstream, tmp_path: Path, make_harness: Harnesses
) -> None:
    url = await asyncio.to_thread(_database_before_branches, tmp_path / "old.db")
    async with make_harness.running(database_url=url) as harness:
        async with write_transaction(harness.services.sessions) as session:
            await seats.grant_bootstrap_seat(session, user_id=harness.admin.id)
        chat_id = "oldchat000000000000000001"
        messages = await listing(harness, chat_id)
        assert [m["content"] for m in messages] == [
            "old one",
            "old reply",
            "old two",
            "old reply two",
        ]
        assert [m["parentId"] for m in messages[1:]] == [m["id"] for m in messages[:-1]]
        assert all(m["siblingIds"] == [m["id"]] for m in messages)
        upstream.behave("fake", text="new reply", chunks=1)
        await say(harness, chat_id, "new question")
        assert sent_to_model(upstream)[-3:] == [
            ("user", "old two"),
            ("assistant", "old reply two"),
            ("user", "new question"),
        ]
        after = await listing(harness, chat_id)
        assert [m["content"] for m in after][-2:] == ["new question", "new reply"]
        assert after[4]["parentId"] == messages[-1]["id"]
