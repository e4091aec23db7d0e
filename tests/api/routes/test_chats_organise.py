"""Finding and organising one's chats: search with snippets, pin, archive, folders and tags."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.chat.search import ChatSearchSource
from tests.api.billing_builders import seated_member
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Caller

pytestmark = pytest.mark.anyio


async def say(harness: AppHarness, caller: Caller, chat_id: str, text: str) -> None:
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": text}, headers=caller.headers
    )
    assert response.status_code == 201, response.text


async def chats(harness: AppHarness, caller: Caller, **params: Any) -> list[dict[str, Any]]:
    response = await harness.client.get("/api/chats", params=params, headers=caller.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["_embedded"]["chats"]
    return found


async def patch(harness: AppHarness, chat_id: str, **body: Any) -> dict[str, Any]:
    response = await harness.client.patch(
        f"/api/chats/{chat_id}", json=body, headers=harness.admin.headers
    )
    assert response.status_code == 200, response.text
    changed: dict[str, Any] = response.json()
    return changed


async def test_search_matches_titles_and_message_text_with_a_snippet(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    admin = harness.admin
    upstream.behave("fake", text="The capital of Australia is Canberra, not Sydney.", chunks=2)
    by_text = await harness.chat(admin, title="Geography")
    await say(harness, admin, by_text, "What is the capital of Australia?")
    by_title = await harness.chat(admin, title="Canberra trip plans")
    await harness.chat(admin, title="Unrelated")

    found = await chats(harness, admin, q="canberra")
    assert {c["id"] for c in found} == {by_text, by_title}
    text_hit = next(c for c in found if c["id"] == by_text)
    assert "Canberra" in text_hit["snippet"] and text_hit["matchedMessageId"]
    message = await harness.client.get(
        f"/api/chats/{by_text}/messages/{text_hit['matchedMessageId']}", headers=admin.headers
    )
    assert "Canberra" in message.json()["content"]
    title_hit = next(c for c in found if c["id"] == by_title)
    assert title_hit["snippet"] == "Canberra trip plans" and title_hit["matchedMessageId"] is None
    assert await chats(harness, admin, q="50%_off") == []


async def test_search_never_finds_another_users_chats(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    member = await seated_member(harness, "member-one")
    mine = await harness.chat(member, title="Quarterly numbers")
    await say(harness, member, mine, "zebra-secret-word")
    admins = await harness.chat(harness.admin, title="zebra-secret-word too")
    assert [c["id"] for c in await chats(harness, member, q="zebra-secret-word")] == [mine]
    assert [c["id"] for c in await chats(harness, harness.admin, q="zebra-secret")] == [admins]


async def test_search_follows_corrected_answers_and_deleted_chats_and_wants_one_message(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    admin = harness.admin
    upstream.behave("fake", text="An aardvark, mostly.", chunks=1)
    first = await harness.chat(admin, title="Animals")
    await say(harness, admin, first, "Which ferret?")
    assert [c["id"] for c in await chats(harness, admin, q="aardvark")] == [first]
    assert await chats(harness, admin, q="ferret aardvark") == []  # in two messages, not one

    listed = await harness.client.get(f"/api/chats/{first}/messages", headers=admin.headers)
    answer = listed.json()["_embedded"]["messages"][-1]["id"]
    corrected = await harness.client.patch(
        f"/api/chats/{first}/messages/{answer}", json={"content": "A zebu."}, headers=admin.headers
    )
    assert corrected.status_code == 200, corrected.text
    assert await chats(harness, admin, q="aardvark") == []
    assert [c["id"] for c in await chats(harness, admin, q="zebu")] == [first]

    deleted = await harness.client.delete(f"/api/chats/{first}", headers=admin.headers)
    assert deleted.status_code == 204
    upstream.behave("fake", text="Noted.", chunks=1)
    later = await harness.chat(admin, title="Later")
    await say(harness, admin, later, "Nothing here.")
    assert await chats(harness, admin, q="zebu") == []
    assert await chats(harness, admin, q="ferret") == []


async def test_a_searched_page_counts_every_match_of_the_callers_own_chats_wherever_it_starts(
    harness: AppHarness,
) -> None:
    admin = harness.admin
    member = await seated_member(harness, "member-three")
    await harness.chat(member, title="wombat of someone else")
    wombats = [await harness.chat(admin, title=f"wombat {n}") for n in range(3)]
    await harness.chat(admin, title="Unrelated")

    async def window(**params: Any) -> tuple[int, list[str]]:
        response = await harness.client.get(
            "/api/chats", params={"q": "wombat", **params}, headers=admin.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return body["total"], [c["id"] for c in body["_embedded"]["chats"]]

    newest_first = wombats[::-1]
    assert await window(limit=2) == (3, newest_first[:2])
    assert await window(start=2, limit=2) == (3, newest_first[2:])  # a partial page
    assert await window(start=3) == (3, [])  # past the end
    assert await window(start=0, q="no-such-word") == (0, [])
    assert await window(start=5, q="no-such-word") == (0, [])


async def test_the_chats_toolkit_search_finds_archived_chats_too_most_recently_active_first(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    admin = harness.admin
    upstream.behave("fake", text="Noted.", chunks=1)
    pinned = await harness.chat(admin, title="Canberra notes")
    await patch(harness, pinned, pinned=True)
    archived = await harness.chat(admin, title="Geography")
    await say(harness, admin, archived, "Is Canberra the capital?")
    await patch(harness, archived, archived=True)
    await harness.chat(admin, title="Unrelated")
    member = await seated_member(harness, "member-two")
    source = ChatSearchSource(harness.services.sessions)

    found = await source.search_chats(user_id=admin.id, query=" canberra ", limit=10)
    assert [c["id"] for c in found] == [archived, pinned]
    assert found[0]["title"] == "Geography" and found[0]["updatedAt"]
    assert len(await source.search_chats(user_id=admin.id, query="  ", limit=2)) == 2
    assert await source.search_chats(user_id=member.id, query="canberra", limit=10) == []


async def test_archived_chats_leave_the_default_list_and_pinned_ones_come_first(
    harness: AppHarness,
) -> None:
    admin = harness.admin
    older = await harness.chat(admin, title="older")
    archived = await harness.chat(admin, title="archived")
    newest = await harness.chat(admin, title="newest")
    assert (await patch(harness, archived, archived=True))["archived"] is True
    assert (await patch(harness, older, pinned=True))["pinned"] is True

    assert [c["id"] for c in await chats(harness, admin)] == [older, newest]
    assert [c["id"] for c in await chats(harness, admin, archived="true")] == [archived]
    assert [c["id"] for c in await chats(harness, admin, pinned="true")] == [older]
    await patch(harness, archived, archived=False)
    assert archived in [c["id"] for c in await chats(harness, admin)]


async def test_folders_hold_chats_and_filter_the_list(harness: AppHarness) -> None:
    admin = harness.admin
    made = await harness.client.post(
        "/api/chat-folders", json={"name": "Work"}, headers=admin.headers
    )
    assert made.status_code == 201, made.text
    folder_id = made.json()["id"]
    filed = await harness.chat(admin, title="filed")
    await harness.chat(admin, title="loose")
    assert (await patch(harness, filed, folderId=folder_id))["folderId"] == folder_id
    assert [c["id"] for c in await chats(harness, admin, folderId=folder_id)] == [filed]

    renamed = await harness.client.patch(
        f"/api/chat-folders/{folder_id}", json={"name": "Job"}, headers=admin.headers
    )
    assert renamed.json()["name"] == "Job"
    listed = await harness.client.get("/api/chat-folders", headers=admin.headers)
    assert [f["name"] for f in listed.json()["_embedded"]["chatFolders"]] == ["Job"]
    twin = await harness.client.post(
        "/api/chat-folders", json={"name": "Job"}, headers=admin.headers
    )
    assert twin.status_code == 409 and twin.json()["code"] == "chat_folder_name_taken"

    assert (await patch(harness, filed, folderId=None))["folderId"] is None
    await patch(harness, filed, folderId=folder_id)
    gone = await harness.client.delete(f"/api/chat-folders/{folder_id}", headers=admin.headers)
    assert gone.status_code == 204
    chat = await harness.client.get(f"/api/chats/{filed}", headers=admin.headers)
    assert chat.status_code == 200 and chat.json()["folderId"] is None


async def test_folders_are_private_to_their_owner(harness: AppHarness) -> None:
    other = await harness.member("other")
    theirs = await harness.client.post(
        "/api/chat-folders", json={"name": "Mine"}, headers=other.headers
    )
    folder_id = theirs.json()["id"]
    chat_id = await harness.chat(harness.admin)
    response = await harness.client.patch(
        f"/api/chats/{chat_id}", json={"folderId": folder_id}, headers=harness.admin.headers
    )
    assert response.status_code == 404 and response.json()["code"] == "chat_folder_not_found"
    for method in ("GET", "PATCH", "DELETE"):
        body = {"name": "x"} if method == "PATCH" else None
        seen = await harness.client.request(
            method, f"/api/chat-folders/{folder_id}", json=body, headers=harness.admin.headers
        )
        assert seen.status_code == 404, method
    mine = await harness.client.get("/api/chat-folders", headers=harness.admin.headers)
    assert mine.json()["total"] == 0
    assert (await harness.client.get("/api/chat-folders")).status_code == 401
    assert (await harness.client.post("/api/chat-folders", json={"name": "x"})).status_code == 401


async def test_tags_are_kept_in_order_and_filter_the_list(harness: AppHarness) -> None:
    admin = harness.admin
    tagged = await harness.chat(admin, title="tagged")
    other = await harness.chat(admin, title="other")
    changed = await patch(harness, tagged, tags=["rust", "ideas", "rust"])
    assert changed["tags"] == ["rust", "ideas"]
    await patch(harness, other, tags=["ideas"])
    assert [c["id"] for c in await chats(harness, admin, tag="rust")] == [tagged]
    assert {c["id"] for c in await chats(harness, admin, tag="ideas")} == {tagged, other}
    await patch(harness, tagged, tags=[])
    assert await chats(harness, admin, tag="rust") == []
    bad = await harness.client.patch(
        f"/api/chats/{tagged}", json={"tags": [" padded"]}, headers=admin.headers
    )
    assert bad.status_code == 422
