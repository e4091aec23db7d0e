"""Every assistant route, called without permission, answers 404 or 403 and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from core import teams, users
from core.database import write_transaction
from core.schemas import TeamCreate
from tests.support import AppHarness, Caller

pytestmark = pytest.mark.anyio
SKILL_MD = b"---\nname: sneaky\ndescription: x\n---\nDo it.\n"


async def setup(harness: AppHarness) -> dict[str, str]:
    admin = harness.admin.headers
    async with write_transaction(harness.services.sessions) as session:
        team = await teams.create(session, data=TeamCreate(name="Readers"))
        for username in ("admin", "reader"):
            found = await users.find_by_username(session, username=username)
            assert found is not None
            await teams.add_member(session, team=team, user=found, role="member")
    made = await harness.client.post(
        "/api/assistants",
        json={"name": "Guarded", "visibility": "team", "teamId": team.id, "permission": "use"},
        headers=admin,
    )
    aid = made.json()["id"]
    skill = await harness.client.post(
        f"/api/assistants/{aid}/skills", json={"name": "s1"}, headers=admin
    )
    await harness.client.post(
        f"/api/assistants/{aid}/secrets", json={"name": "K", "value": "v"}, headers=admin
    )
    memory = await harness.client.post(
        f"/api/assistants/{aid}/memories", json={"content": "mine"}, headers=admin
    )
    return {"aid": aid, "sid": skill.json()["id"], "mid": memory.json()["id"]}


def routes(ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any] | None, str]]:
    """(method, path, body, kind): kind `read` is allowed to users, `write` needs edit."""
    a = f"/api/assistants/{ids['aid']}"
    return [
        ("GET", a, None, "read"),
        ("GET", a + "/export", None, "read"),
        ("GET", a + "/skills", None, "read"),
        ("GET", f"{a}/skills/{ids['sid']}", None, "read"),
        ("GET", f"{a}/skills/{ids['sid']}/export", None, "read"),
        ("PATCH", a, {"name": "Taken"}, "write"),
        ("POST", a + "/_edit", None, "write"),
        ("POST", a + "/_commit", None, "write"),
        ("POST", a + "/skills", {"name": "s2"}, "write"),
        ("PATCH", f"{a}/skills/{ids['sid']}", {"instructions": "evil"}, "write"),
        ("DELETE", f"{a}/skills/{ids['sid']}", None, "write"),
        ("GET", a + "/secrets", None, "write"),
        ("POST", a + "/secrets", {"name": "X", "value": "y"}, "write"),
        ("GET", a + "/secrets/K", None, "write"),
        ("PUT", a + "/secrets/K", {"value": "overwritten"}, "write"),
        ("DELETE", a + "/secrets/K", None, "write"),
        ("PATCH", f"{a}/memories/{ids['mid']}", {"content": "changed"}, "private"),
        ("DELETE", f"{a}/memories/{ids['mid']}", None, "private"),
        ("GET", a + "/knowledge", None, "read"),
        ("GET", a + "/files", None, "read"),
        ("POST", a + "/knowledge", {"fileIds": [], "folderIds": []}, "write"),
        ("DELETE", f"{a}/knowledge/{'0' * 26}", None, "write"),
        ("DELETE", f"{a}/files/{'0' * 26}", None, "write"),
        ("DELETE", a, None, "write"),
    ]


async def snapshot(harness: AppHarness, aid: str) -> list[Any]:
    admin = harness.admin.headers
    parts = []
    for path in ("", "/export", "/skills", "/secrets", "/memories", "/knowledge", "/files"):
        parts.append(
            (await harness.client.get(f"/api/assistants/{aid}{path}", headers=admin)).json()
        )
    return parts


async def call(harness: AppHarness, caller: Caller, method: str, path: str, body: Any) -> int:
    response = await harness.client.request(method, path, json=body, headers=caller.headers)
    return response.status_code


async def test_outsiders_get_404_everywhere_and_change_nothing(harness: AppHarness) -> None:
    await harness.member("reader")
    outsider = await harness.member("outsider")
    ids = await setup(harness)
    before = await snapshot(harness, ids["aid"])
    for method, path, body, _ in routes(ids):
        assert await call(harness, outsider, method, path, body) == 404, (method, path)
    more = [
        ("POST", f"/api/assistants/{ids['aid']}/_duplicate", None),
        ("GET", f"/api/assistants/{ids['aid']}/memories", None),
        ("POST", f"/api/assistants/{ids['aid']}/memories", {"content": "x"}),
        ("POST", "/api/chats", {"assistantId": ids["aid"]}),
    ]
    for method, path, body in more:
        assert await call(harness, outsider, method, path, body) == 404, (method, path)
    upload = await harness.client.post(
        f"/api/assistants/{ids['aid']}/skills/_import",
        files={"file": ("SKILL.md", SKILL_MD)},
        headers=outsider.headers,
    )
    assert upload.status_code == 404
    attached = await harness.client.post(
        f"/api/assistants/{ids['aid']}/files",
        files={"files": ("notes.txt", b"Outsider notes.")},
        headers=outsider.headers,
    )
    assert attached.status_code == 404
    listed = await harness.client.get("/api/assistants", headers=outsider.headers)
    assert listed.json()["total"] == 0
    assert await snapshot(harness, ids["aid"]) == before


async def test_users_without_edit_get_403_on_writes_and_change_nothing(
    harness: AppHarness,
) -> None:
    reader = await harness.member("reader")
    ids = await setup(harness)
    before = await snapshot(harness, ids["aid"])
    for method, path, body, kind in routes(ids):
        status = await call(harness, reader, method, path, body)
        expected = {"read": 200, "write": 403, "private": 404}[kind]
        assert status == expected, (method, path, status)
    upload = await harness.client.post(
        f"/api/assistants/{ids['aid']}/skills/_import",
        files={"file": ("SKILL.md", SKILL_MD)},
        headers=reader.headers,
    )
    assert upload.status_code == 403
    attached = await harness.client.post(
        f"/api/assistants/{ids['aid']}/files",
        files={"files": ("notes.txt", b"Reader notes.")},
        headers=reader.headers,
    )
    assert attached.status_code == 403
    assert await snapshot(harness, ids["aid"]) == before
