"""Assistants over HTTP: CRUD, sharing, drafts, duplicates, export and import."""

from __future__ import annotations

from typing import Any

import pytest

from core import teams, users
from core.database import write_transaction
from core.schemas import TeamCreate
from tests.support import AppHarness, Caller

pytestmark = pytest.mark.anyio


async def make_assistant(harness: AppHarness, caller: Caller, **body: Any) -> dict[str, Any]:
    payload = {"name": "Helper", "instructions": "Be brief.", **body}
    response = await harness.client.post("/api/assistants", json=payload, headers=caller.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_created_assistant_is_listed_for_its_owner_only(harness: AppHarness) -> None:
    bob = await harness.member("bob")
    made = await make_assistant(harness, harness.admin, starters=["Hi"], temperature=0.3)
    assert made["access"] == "edit" and made["starters"] == ["Hi"]
    mine = await harness.client.get("/api/assistants", headers=harness.admin.headers)
    theirs = await harness.client.get("/api/assistants", headers=bob.headers)
    assert [a["id"] for a in mine.json()["_embedded"]["assistants"]] == [made["id"]]
    assert theirs.json()["total"] == 0
    hidden = await harness.client.get(f"/api/assistants/{made['id']}", headers=bob.headers)
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "assistant_not_found"


async def join_team(harness: AppHarness, *members: Caller) -> str:
    """A team with these members, made through the services."""
    async with write_transaction(harness.services.sessions) as session:
        team = await teams.create(session, data=TeamCreate(name="Sales"))
        for member in members:
            user = await users.get(session, user_id=member.id)
            await teams.add_member(session, team=team, user=user, role="member")
        return team.id


async def test_team_sharing_with_use_lets_members_read_but_not_edit(harness: AppHarness) -> None:
    bob = await harness.member("bob")
    carol = await harness.member("carol")
    team_id = await join_team(harness, harness.admin, bob)
    made = await make_assistant(harness, harness.admin, visibility="team", teamId=team_id)
    href = f"/api/assistants/{made['id']}"
    seen = await harness.client.get(href, headers=bob.headers)
    assert seen.status_code == 200 and seen.json()["access"] == "use"
    refused = await harness.client.patch(href, json={"name": "Mine"}, headers=bob.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "assistant_read_only"
    assert (await harness.client.get(href, headers=carol.headers)).status_code == 404
    listed = await harness.client.get("/api/assistants", headers=bob.headers)
    assert listed.json()["total"] == 1


async def test_instance_sharing_with_edit_lets_anyone_edit(harness: AppHarness) -> None:
    bob = await harness.member("bob")
    made = await make_assistant(harness, harness.admin, visibility="instance", permission="edit")
    href = f"/api/assistants/{made['id']}"
    changed = await harness.client.patch(href, json={"description": "x"}, headers=bob.headers)
    assert changed.status_code == 200 and changed.json()["description"] == "x"


async def test_team_sharing_needs_a_team_of_the_creator(harness: AppHarness) -> None:
    response = await harness.client.post(
        "/api/assistants",
        json={"name": "A", "visibility": "team", "teamId": "01NOTATEAM"},
        headers=harness.admin.headers,
    )
    assert response.status_code == 422 and response.json()["code"] == "invalid_sharing"


async def test_patch_with_null_clears_the_default_model(harness: AppHarness) -> None:
    made = await make_assistant(harness, harness.admin, model="fake", maxTokens=50)
    href = f"/api/assistants/{made['id']}"
    cleared = await harness.client.patch(href, json={"model": None}, headers=harness.admin.headers)
    assert cleared.json()["model"] is None and cleared.json()["maxTokens"] == 50


async def test_duplicate_is_a_private_copy_with_skills(harness: AppHarness) -> None:
    bob = await harness.member("bob")
    made = await make_assistant(harness, harness.admin, visibility="instance")
    skill = {"name": "tone", "description": "Tone", "instructions": "Be warm."}
    await harness.client.post(
        f"/api/assistants/{made['id']}/skills", json=skill, headers=harness.admin.headers
    )
    copy = await harness.client.post(
        f"/api/assistants/{made['id']}/_duplicate", headers=bob.headers
    )
    assert copy.status_code == 201
    body = copy.json()
    assert body["ownerId"] == bob.id and body["visibility"] == "private"
    skills = await harness.client.get(f"/api/assistants/{body['id']}/skills", headers=bob.headers)
    assert [s["name"] for s in skills.json()["_embedded"]["skills"]] == ["tone"]


async def test_export_then_import_makes_an_equal_assistant(harness: AppHarness) -> None:
    made = await make_assistant(
        harness, harness.admin, description="d", starters=["go"], model="fake", temperature=0.5
    )
    base = f"/api/assistants/{made['id']}"
    skill = {"name": "tone", "description": "Tone", "instructions": "Be warm."}
    await harness.client.post(base + "/skills", json=skill, headers=harness.admin.headers)
    secret = {"name": "API_KEY", "value": "sk-do-not-export", "description": "key"}
    await harness.client.post(base + "/secrets", json=secret, headers=harness.admin.headers)
    exported = await harness.client.get(base + "/export", headers=harness.admin.headers)
    assert "sk-do-not-export" not in exported.text
    assert exported.json()["secrets"] == [{"name": "API_KEY", "description": "key"}]
    imported = await harness.client.post(
        "/api/assistants/_import", json=exported.json(), headers=harness.admin.headers
    )
    assert imported.status_code == 201, imported.text
    again = await harness.client.get(
        f"/api/assistants/{imported.json()['id']}/export", headers=harness.admin.headers
    )
    assert again.json()["secrets"] == []
    assert {**again.json(), "secrets": None} == {**exported.json(), "secrets": None}


async def test_import_refuses_something_else(harness: AppHarness) -> None:
    response = await harness.client.post(
        "/api/assistants/_import", json={"format": "other"}, headers=harness.admin.headers
    )
    assert response.status_code == 422


async def _folder(harness: AppHarness, caller: Caller, name: str) -> str:
    made = await harness.client.post(
        "/api/library/folders", json={"name": name}, headers=caller.headers
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def _knowledge_folders(harness: AppHarness, caller: Caller, assistant_id: str) -> list[str]:
    listed = await harness.client.get(
        f"/api/assistants/{assistant_id}/knowledge", headers=caller.headers
    )
    assert listed.status_code == 200, listed.text
    return [i["folderId"] for i in listed.json()["_embedded"]["knowledge"]]


async def _shared_with_two_folders(harness: AppHarness, bob: Caller) -> tuple[str, str, str]:
    """An instance-wide editable assistant with a folder of the admin's and one of bob's."""
    made = await make_assistant(harness, harness.admin, visibility="instance", permission="edit")
    theirs, bobs = (
        await _folder(harness, harness.admin, "Admin's"),
        await _folder(harness, bob, "Bob's"),
    )
    for caller, folder in ((harness.admin, theirs), (bob, bobs)):
        attached = await harness.client.post(
            f"/api/assistants/{made['id']}/knowledge",
            json={"folderIds": [folder]},
            headers=caller.headers,
        )
        assert attached.status_code == 201, attached.text
    return str(made["id"]), theirs, bobs


async def test_duplicate_carries_the_knowledge_the_duplicating_user_may_see(
    harness: AppHarness,
) -> None:
    bob = await harness.member("bob")
    assistant_id, theirs, bobs = await _shared_with_two_folders(harness, bob)
    for caller, expected in ((harness.admin, [theirs]), (bob, [bobs])):
        copy = await harness.client.post(
            f"/api/assistants/{assistant_id}/_duplicate", headers=caller.headers
        )
        assert copy.status_code == 201, copy.text
        assert await _knowledge_folders(harness, caller, copy.json()["id"]) == expected
    assert await _knowledge_folders(harness, bob, assistant_id) == [theirs, bobs]


async def test_import_reattaches_visible_knowledge_and_reports_the_rest_skipped(
    harness: AppHarness,
) -> None:
    bob = await harness.member("bob")
    assistant_id, theirs, bobs = await _shared_with_two_folders(harness, bob)
    exported = await harness.client.get(
        f"/api/assistants/{assistant_id}/export", headers=harness.admin.headers
    )
    assert exported.json()["knowledge"] == {"fileIds": [], "folderIds": [theirs, bobs]}
    imported = await harness.client.post(
        "/api/assistants/_import", json=exported.json(), headers=harness.admin.headers
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["skippedKnowledge"] == {"fileIds": [], "folderIds": [bobs]}
    assert await _knowledge_folders(harness, harness.admin, imported.json()["id"]) == [theirs]
