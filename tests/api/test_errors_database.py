"""Database failures that another request causes answer a JSON error, never a 500."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.api.billing_builders import seated_member
from tests.api.routes.test_chats_lock_order import _waiting
from tests.support import AppHarness, eventually

pytestmark = pytest.mark.anyio


async def test_a_chat_made_while_its_owner_is_removed_answers_409_not_500(
    harness: AppHarness,
) -> None:
    if harness.services.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: the removal commits before the request writes")
    member = await seated_member(harness, "member-removed-meanwhile")
    engine = harness.services.engine
    async with engine.connect() as remover:
        # The user's removal has begun (its row deleted, not yet committed) ...
        await remover.execute(text("DELETE FROM core_user WHERE id = :u"), {"u": member.id})
        # ... when the user, still signed in, makes a chat: its row waits for the user's row.
        making = asyncio.create_task(
            harness.client.post("/api/chats", json={}, headers=member.headers)
        )
        waited: bool = await eventually(lambda: _waiting(engine, users=False))
        assert waited
        await remover.commit()
    response = await making
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "reference_gone"
