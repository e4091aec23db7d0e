"""Feedback on answers: rating with PATCH on a message, and GET /api/feedback for those who review
it (admins everything; an assistant's editors their assistant's; nobody else anything)."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from tests.api.billing_builders import seated_member
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Caller

pytestmark = pytest.mark.anyio


async def answered(harness: AppHarness, caller: Caller, **chat: Any) -> tuple[str, str, str]:
    """A chat of the caller's with one answer: (chat id, question id, answer id)."""
    chat_id = await harness.chat(caller, **chat)
    sent = await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "Hello?"}, headers=caller.headers
    )
    assert sent.status_code == 201, sent.text
    answer = sent.json()
    return chat_id, str(answer["parentId"]), str(answer["id"])


async def rate(
    harness: AppHarness, caller: Caller, chat_id: str, message_id: str, **body: Any
) -> httpx.Response:
    return await harness.client.patch(
        f"/api/chats/{chat_id}/messages/{message_id}", json=body, headers=caller.headers
    )


async def reviewed(harness: AppHarness, caller: Caller, query: str = "") -> list[dict[str, Any]]:
    found = await harness.client.get(f"/api/feedback{query}", headers=caller.headers)
    assert found.status_code == 200, found.text
    return list(found.json()["_embedded"]["feedback"])


async def test_an_answer_is_rated_shown_with_its_message_and_taken_back(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="Hi there.")
    chat_id, question_id, answer_id = await answered(harness, harness.admin)

    rated = await rate(harness, harness.admin, chat_id, answer_id, liked=False, feedback=" Vague ")
    assert rated.status_code == 200, rated.text
    assert (rated.json()["liked"], rated.json()["feedback"]) == (False, "Vague")
    listed = await harness.client.get(
        f"/api/chats/{chat_id}/messages", headers=harness.admin.headers
    )
    stored = {m["id"]: m for m in listed.json()["_embedded"]["messages"]}
    assert stored[answer_id]["liked"] is False and stored[question_id]["liked"] is None
    [row] = await reviewed(harness, harness.admin)
    assert (row["messageId"], row["answer"], row["username"]) == (answer_id, "Hi there.", "admin")

    taken_back = await rate(harness, harness.admin, chat_id, answer_id, liked=None)
    assert taken_back.json()["liked"] is None
    assert await reviewed(harness, harness.admin) == []


async def test_only_answers_of_ones_own_chats_are_rated_with_clear_errors(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="Hi.")
    chat_id, question_id, answer_id = await answered(harness, harness.admin)
    own = await rate(harness, harness.admin, chat_id, question_id, liked=True)
    assert (own.status_code, own.json()["code"]) == (409, "not_an_answer")
    stranger = await harness.member("stranger")
    theirs = await rate(harness, stranger, chat_id, answer_id, liked=True)
    assert (theirs.status_code, theirs.json()["code"]) == (404, "chat_not_found")
    missing = await rate(harness, harness.admin, chat_id, "0" * 26, liked=True)
    assert missing.status_code == 404
    for bad in ({"liked": "very"}, {"liked": True, "feedback": "x" * 2001}, {"stars": 5}):
        refused = await rate(harness, harness.admin, chat_id, answer_id, **bad)
        assert refused.status_code == 422, bad
    assert await reviewed(harness, harness.admin) == []


async def test_editors_review_their_assistants_feedback_and_members_nothing(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text='=HYPERLINK("http://evil")')
    editor = await seated_member(harness, "editor")
    user = await seated_member(harness, "user")
    mine = await harness.client.post(
        "/api/assistants",
        json={"name": "Helper", "visibility": "instance", "permission": "use"},
        headers=editor.headers,
    )
    assistant_id = mine.json()["id"]
    on_assistant = await answered(harness, user, assistantId=assistant_id)
    plain = await answered(harness, user)
    assert (
        await rate(harness, user, *on_assistant[::2], liked=False, feedback="@SUM(1)")
    ).is_success
    assert (await rate(harness, user, *plain[::2], liked=True)).is_success

    [row] = await reviewed(harness, editor)
    assert (row["assistantId"], row["assistantName"], row["liked"]) == (
        assistant_id,
        "Helper",
        False,
    )
    assert await reviewed(harness, user) == []
    assert len(await reviewed(harness, harness.admin)) == 2
    assert [r["liked"] for r in await reviewed(harness, harness.admin, "?liked=true")] == [True]
    by_assistant = await reviewed(harness, harness.admin, f"?assistant={assistant_id}")
    assert [r["messageId"] for r in by_assistant] == [on_assistant[2]]

    exported = await harness.client.get(
        "/api/feedback", headers={**editor.headers, "Accept": "text/csv"}
    )
    assert exported.headers["content-type"].startswith("text/csv")
    [line] = list(csv.DictReader(io.StringIO(exported.text)))
    assert line["feedback"] == "'@SUM(1)" and line["answer"].startswith("'=")
