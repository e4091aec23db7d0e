"""Bearer tokens are cached briefly: no query per request, changes here seen at once, elsewhere
within the TTL."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event, update

from api.auth_cache import AuthCache
from core import clock, users
from core.database import write_transaction
from core.models import ApiToken
from core.schemas import UserUpdate
from tests.support import AppHarness

pytestmark = pytest.mark.anyio


async def test_a_repeated_bearer_request_resolves_its_token_without_a_query(
    harness: AppHarness,
) -> None:
    assert (await harness.client.get("/api/me", headers=harness.admin.headers)).status_code == 200
    statements: list[str] = []

    def record(_c: object, _cur: object, statement: str, *_: object) -> None:
        statements.append(statement)

    engine = harness.services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert (
            await harness.client.get("/api/me", headers=harness.admin.headers)
        ).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert not [s for s in statements if "core_api_token" in s or "core_team_membership" in s]


async def test_a_user_deactivated_in_this_process_is_refused_on_the_next_request(
    harness: AppHarness,
) -> None:
    member = await harness.member("dora")
    assert (await harness.client.get("/api/me", headers=member.headers)).status_code == 200
    async with write_transaction(harness.services.sessions) as session:
        user = await users.get(session, user_id=member.id)
        await users.update(session, user=user, data=UserUpdate(active=False))
    assert (await harness.client.get("/api/me", headers=member.headers)).status_code == 401


async def test_a_token_revoked_by_another_worker_is_refused_within_the_ttl(
    harness: AppHarness,
) -> None:
    harness.app.state.auth_cache = AuthCache(ttl=0.3)
    member = await harness.member("erin")
    assert (await harness.client.get("/api/me", headers=member.headers)).status_code == 200
    async with write_transaction(harness.services.sessions) as session:
        # A bulk UPDATE, as another process's change looks to this one: no flush event here.
        await session.execute(
            update(ApiToken).where(ApiToken.user_id == member.id).values(revoked_at=clock.now())
        )
    revoked_at = time.monotonic()
    status = 200
    while status == 200 and time.monotonic() - revoked_at < 5:
        status = (await harness.client.get("/api/me", headers=member.headers)).status_code
    assert status == 401
    assert time.monotonic() - revoked_at < 0.3 + 1.0
