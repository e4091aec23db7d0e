"""Assistants over HTTP: CRUD, sharing, drafts, duplicates, export and import."""

from __future__ import annotations

from typing import Any

import pytest

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
