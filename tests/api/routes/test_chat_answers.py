"""Under an answer: correct its text, branch the chat off at it, continue it where it stopped."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from assistant.chat.continuation import GO_ON
from assistant.models import Message
from core.database import write_transaction
from tests.api.billing_builders import ledger_rows
from tests.api.chat_calls import listing, say, sent_to_model
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Caller, eventually, parse_sse

pytestmark = pytest.mark.anyio


async def patch(harness: AppHarness, caller: Caller, path: str, **body: Any) -> Any:
    return await harness.client.patch(path, json=body, headers=caller.headers)


async def test_a_corrected_answer_is_kept_in_place_unbilled_and_sent_as_history(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="Paris is in Italy.", chunks=2)
    chat_id = await harness.chat(harness.admin)
    answer = await say(harness, chat_id, "Where is Paris?")
    path = f"/api/chats/{chat_id}/messages/{answer['id']}"
    billed = len(await ledger_rows(harness.services.sessions))

    corrected = await patch(harness, harness.admin, path, content="Paris is in France.")
    assert corrected.status_code == 200, corrected.text
    body = corrected.json()
    assert (body["content"], body["edited"], body["originalContent"]) == (
        "Paris is in France.",
        True,
        "Paris is in Italy.",
    )
    assert body["editedAt"] and body["costMicros"] == answer["costMicros"]
    again = await patch(harness, harness.admin, path, content="Paris: France.", liked=True)
    assert (again.json()["originalContent"], again.json()["liked"]) == ("Paris is in Italy.", True)
    assert len(await ledger_rows(harness.services.sessions)) == billed

    for bad in ({"content": ""}, {"content": "  \n"}, {"content": "x" * 200_001}, {}):
        refused = await patch(harness, harness.admin, path, **bad)
        assert refused.status_code == 422 and refused.json()["code"], bad
    question = f"/api/chats/{chat_id}/messages/{answer['parentId']}"
    own = await patch(harness, harness.admin, question, content="Where is Rome?")
    assert (own.status_code, own.json()["code"]) == (409, "not_an_answer")
    async with write_transaction(harness.services.sessions) as session:
        await session.execute(
            update(Message).where(Message.id == answer["id"]).values(status="streaming")
        )
    streaming = await patch(harness, harness.admin, path, content="Too soon.")
    assert (streaming.status_code, streaming.json()["code"]) == (409, "still_streaming")
    async with write_transaction(harness.services.sessions) as session:
        await session.execute(
            update(Message).where(Message.id == answer["id"]).values(status="complete")
        )

    await say(harness, chat_id, "And Rome?")
    assert sent_to_model(upstream) == [
        ("user", "Where is Paris?"),
        ("assistant", "Paris: France."),
        ("user", "And Rome?"),
    ]


async def test_branching_off_copies_the_branch_up_to_the_answer_and_leaves_the_original(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="one", chunks=1)
    chat_id = await harness.chat(harness.admin, title="Trip")
    chat = f"/api/chats/{chat_id}"
    note = b"The code word is heron."
    uploaded = await harness.client.post(
        chat + "/attachments", files=[("files", ("notes.txt", note))], headers=harness.admin.headers
    )
    assert uploaded.status_code == 201, uploaded.text
    [attachment_id] = [a["id"] for a in uploaded.json()["_embedded"]["attachments"]]
    sent = await harness.client.post(
        chat + "/messages",
        json={"content": "first", "attachmentIds": [attachment_id]},
        headers=harness.admin.headers,
    )
    first = sent.json()
    upstream.behave("fake", text="two", chunks=1)
    await say(harness, chat_id, "second")
    before = await listing(harness, chat_id, branch="all")
    billed = len(await ledger_rows(harness.services.sessions))

    forked = await harness.client.post(
        f"/api/chats/{chat_id}/messages/{first['id']}/_fork", headers=harness.admin.headers
    )
    assert forked.status_code == 201, forked.text
    copy = forked.json()
    assert copy["id"] != chat_id and copy["title"] == "Trip (branch)"
    copied = await listing(harness, copy["id"])
    assert [(m["role"], m["content"]) for m in copied] == [("user", "first"), ("assistant", "one")]
    assert copied[0]["parentId"] is None and copied[1]["parentId"] == copied[0]["id"]
    assert copy["activeLeafId"] == copied[1]["id"] and first["id"] not in {m["id"] for m in copied}
    assert await listing(harness, chat_id, branch="all") == before
    assert len(await ledger_rows(harness.services.sessions)) == billed

    stranger = await harness.member("stranger")
    answer = f"/api/chats/{chat_id}/messages/{first['id']}"
    attempts = [
        await patch(harness, stranger, answer, content="mine now"),
        await harness.client.post(answer + "/_fork", headers=stranger.headers),
        await harness.client.post(answer + "/_continue", headers=stranger.headers),
    ]
    assert [(r.status_code, r.json()["code"]) for r in attempts] == [(404, "chat_not_found")] * 3
    assert await listing(harness, chat_id, branch="all") == before

    # The copy's attachments are its own: they outlive the original chat.
    assert (await harness.client.delete(chat, headers=harness.admin.headers)).status_code == 204
    files = f"/api/chats/{copy['id']}/attachments"
    listed = await harness.client.get(files, headers=harness.admin.headers)
    [copied_file] = listed.json()["_embedded"]["attachments"]
    assert copied_file["name"] == "notes.txt" and copied_file["id"] != attachment_id
    content = f"{files}/{copied_file['id']}/content"
    assert (await harness.client.get(content, headers=harness.admin.headers)).content == note
    upstream.behave("fake", text="three", chunks=1)
    await say(harness, copy["id"], "third")
    [question, *rest] = sent_to_model(upstream)
    assert question[0] == "user" and question[1].startswith("first") and "heron" in question[1]
    assert rest == [("assistant", "one"), ("user", "third")]


async def test_continuing_a_broken_answer_sends_it_appends_keeps_a_break_and_bills_each_call(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="abcdefgh", chunks=8, break_after=3)
    chat_id = await harness.chat(harness.admin)
    broken = await say(harness, chat_id, "the alphabet?")
    assert broken["status"] == "incomplete" and broken["content"] == "abc"
    billed = len(await ledger_rows(harness.services.sessions))

    path = f"/api/chats/{chat_id}/messages/{broken['id']}/_continue"
    upstream.behave("fake", text="defgh", chunks=5, break_after=2)
    again = await harness.client.post(path, headers=harness.admin.headers)
    assert again.status_code == 201, again.text
    assert (again.json()["content"], again.json()["status"]) == ("abcde", "incomplete")

    upstream.behave("fake", text="fgh", chunks=2)
    response = await harness.client.post(path, json={"stream": True}, headers=harness.admin.headers)
    assert response.status_code == 200, response.text
    events = parse_sse(response.text)
    assert events[0][:2] == ("5:t0", "start") and events[-1][1] == "done"
    deltas = [(e[0], e[2]["text"]) for e in events if e[1] == "delta"]
    assert "".join(text for _, text in deltas) == "fgh" and deltas[-1][0] == "8"
    assert sent_to_model(upstream) == [
        ("user", "the alphabet?"),
        ("assistant", "abcde"),
        ("user", GO_ON),
    ]

    [answer] = [m for m in await listing(harness, chat_id) if m["role"] == "assistant"]
    assert (answer["id"], answer["content"], answer["status"]) == (
        broken["id"],
        "abcdefgh",
        "complete",
    )
    assert answer["completionTokens"] > broken["completionTokens"]
    assert answer["costMicros"] > broken["costMicros"]

    async def billed_twice_more() -> bool:
        rows = await ledger_rows(harness.services.sessions)
        assert [row.source for row in rows[billed:]] == ["continue", "continue"]
        return True

    await eventually(billed_twice_more, seconds=10)

    await say(harness, chat_id, "more?")
    earlier = f"/api/chats/{chat_id}/messages/{broken['id']}/_continue"
    refused = await harness.client.post(earlier, headers=harness.admin.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "nothing_to_continue")
