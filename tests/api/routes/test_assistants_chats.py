"""Chatting with an assistant: drafts beside a running chat, `/skill` turns, memories, defaults."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Caller

pytestmark = pytest.mark.anyio


async def make_assistant(harness: AppHarness, **body: Any) -> str:
    payload = {"name": "Helper", "instructions": "You are Version One.", **body}
    response = await harness.client.post(
        "/api/assistants", json=payload, headers=harness.admin.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def say(harness: AppHarness, chat_id: str, text: str, caller: Caller | None = None) -> None:
    caller = caller or harness.admin
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": text}, headers=caller.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "complete"


def last_system(upstream: FakeUpstream) -> str:
    messages: list[dict[str, Any]] = upstream.recorder.requests[-1]["messages"]
    return "\n".join(str(m["content"]) for m in messages if m["role"] == "system")


async def test_chat_keeps_the_published_version_while_a_draft_is_edited_and_committed(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    assistant_id = await make_assistant(harness)
    chat_id = await harness.chat(harness.admin, assistantId=assistant_id)
    await say(harness, chat_id, "hello")
    assert "Version One" in last_system(upstream)

    draft = await harness.client.post(
        f"/api/assistants/{assistant_id}/_edit", headers=harness.admin.headers
    )
    assert draft.status_code == 201 and draft.json()["editingId"] == assistant_id
    draft_id = draft.json()["id"]
    patched = await harness.client.patch(
        f"/api/assistants/{draft_id}",
        json={"instructions": "You are Version Two."},
        headers=harness.admin.headers,
    )
    assert patched.status_code == 200
    await say(harness, chat_id, "still there?")
    assert "Version One" in last_system(upstream)
    listed = await harness.client.get("/api/assistants", headers=harness.admin.headers)
    assert [a["id"] for a in listed.json()["_embedded"]["assistants"]] == [assistant_id]

    trial = await harness.chat(harness.admin, assistantId=draft_id)
    await say(harness, trial, "try the draft")
    assert "Version Two" in last_system(upstream)

    committed = await harness.client.post(
        f"/api/assistants/{draft_id}/_commit", headers=harness.admin.headers
    )
    assert committed.status_code == 200 and committed.json()["id"] == assistant_id
    assert committed.json()["instructions"] == "You are Version Two."
    gone = await harness.client.get(f"/api/assistants/{draft_id}", headers=harness.admin.headers)
    assert gone.status_code == 404
    await say(harness, chat_id, "and now?")
    assert "Version Two" in last_system(upstream)
    moved = await harness.client.get(f"/api/chats/{trial}", headers=harness.admin.headers)
    assert moved.json()["assistantId"] == assistant_id


async def test_discarding_a_draft_leaves_the_published_assistant_untouched(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    assistant_id = await make_assistant(harness)
    chat_id = await harness.chat(harness.admin, assistantId=assistant_id)
    before = await harness.client.get(
        f"/api/assistants/{assistant_id}", headers=harness.admin.headers
    )
    draft = await harness.client.post(
        f"/api/assistants/{assistant_id}/_edit", headers=harness.admin.headers
    )
    draft_id = draft.json()["id"]
    again = await harness.client.post(
        f"/api/assistants/{assistant_id}/_edit", headers=harness.admin.headers
    )
    assert again.status_code == 200 and again.json()["id"] == draft_id
    await harness.client.patch(
        f"/api/assistants/{draft_id}", json={"name": "Changed"}, headers=harness.admin.headers
    )
    discarded = await harness.client.delete(
        f"/api/assistants/{draft_id}", headers=harness.admin.headers
    )
    assert discarded.status_code == 204
    after = await harness.client.get(
        f"/api/assistants/{assistant_id}", headers=harness.admin.headers
    )
    assert after.json() == before.json()
    await say(harness, chat_id, "hello")
    assert "Version One" in last_system(upstream)
    no_draft = await harness.client.post(
        f"/api/assistants/{assistant_id}/_commit", headers=harness.admin.headers
    )
    assert no_draft.status_code == 409


async def test_slash_skill_loads_its_instructions_for_that_turn_only(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    assistant_id = await make_assistant(harness)
    skill = {
        "name": "haiku",
        "description": "Answer as a haiku",
        "instructions": "SKILL-BODY: write exactly three lines of 5, 7 and 5 syllables.",
    }
    created = await harness.client.post(
        f"/api/assistants/{assistant_id}/skills", json=skill, headers=harness.admin.headers
    )
    assert created.status_code == 201
    chat_id = await harness.chat(harness.admin, assistantId=assistant_id)

    await say(harness, chat_id, "what is rain?")
    system = last_system(upstream)
    assert "/haiku: Answer as a haiku" in system and "SKILL-BODY" not in system

    await say(harness, chat_id, "/haiku what is snow?")
    assert "SKILL-BODY" in last_system(upstream)

    await say(harness, chat_id, "and hail?")
    assert "SKILL-BODY" not in last_system(upstream)

    await say(harness, chat_id, "/haikus is not a skill")
    assert "SKILL-BODY" not in last_system(upstream)


async def test_memories_reach_only_their_users_prompt(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    bob = await harness.member("bob")
    assistant_id = await make_assistant(harness, visibility="instance")
    href = f"/api/assistants/{assistant_id}/memories"
    mine = await harness.client.post(
        href, json={"content": "Prefers metric units"}, headers=harness.admin.headers
    )
    assert mine.status_code == 201
    theirs = await harness.client.post(
        href, json={"content": "Bob likes cats"}, headers=bob.headers
    )
    bob_list = await harness.client.get(href, headers=bob.headers)
    assert [m["content"] for m in bob_list.json()["_embedded"]["memories"]] == ["Bob likes cats"]
    steal = await harness.client.delete(f"{href}/{mine.json()['id']}", headers=bob.headers)
    assert steal.status_code == 404

    chat_id = await harness.chat(harness.admin, assistantId=assistant_id)
    await say(harness, chat_id, "how far is it?")
    system = last_system(upstream)
    assert "Prefers metric units" in system and "Bob likes cats" not in system

    forget = await harness.client.delete(
        f"{href}/{mine.json()['id']}", headers=harness.admin.headers
    )
    assert forget.status_code == 204
    await say(harness, chat_id, "again?")
    assert "Prefers metric units" not in last_system(upstream)
    assert theirs.status_code == 201


async def test_the_assistants_default_model_and_params_answer_when_the_turn_names_none(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    assistant_id = await make_assistant(harness, model="fake-backup", temperature=0.25)
    chat_id = await harness.chat(harness.admin, assistantId=assistant_id)
    await say(harness, chat_id, "hi")
    request = upstream.recorder.requests[-1]
    assert request["model"] == "fake-backup"
    assert request["temperature"] == 0.25


async def test_a_chat_cannot_name_an_assistant_not_shared_with_the_user(
    harness: AppHarness,
) -> None:
    bob = await harness.member("bob")
    assistant_id = await make_assistant(harness)
    response = await harness.client.post(
        "/api/chats", json={"assistantId": assistant_id}, headers=bob.headers
    )
    assert response.status_code == 404
