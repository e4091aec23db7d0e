"""Bearer tokens are cached under the identity epoch: a hit reads one number, and any change to
users, tokens, teams or memberships, by this worker or another, is seen on the next request."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import event, update

from api.auth_cache import AuthCache
from api.deps import Principal
from core import api_tokens, auth_epoch, clock, login_sessions, users
from core.database import create_engine, sessionmaker, write_transaction
from core.listing import PageRequest
from core.models import ApiToken
from core.schemas import UserUpdate
from tests.support import ADMIN, PASSWORD, AppHarness

pytestmark = pytest.mark.anyio


async def test_a_repeated_bearer_request_reads_only_the_epoch(
    harness: AppHarness,
) -> None:
    assert (await harness.client.get("/api/me", headers=harness.admin.headers)).status_code == 200
    statements = await _statements_of(
        harness, lambda: harness.client.get("/api/me", headers=harness.admin.headers)
    )
    assert not [s for s in statements if "core_api_token" in s or "core_team_membership" in s]


async def _statements_of(
    harness: AppHarness, request: Callable[[], Awaitable[httpx.Response]]
) -> list[str]:
    """The SQL the app ran through SQLAlchemy while answering one successful request."""
    statements: list[str] = []

    def record(_c: object, _cur: object, statement: str, *_: object) -> None:
        statements.append(statement)

    engine = harness.services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert (await request()).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return statements


async def test_a_user_deactivated_in_this_process_is_refused_on_the_next_request(
    harness: AppHarness,
) -> None:
    member = await harness.member("dora")
    assert (await harness.client.get("/api/me", headers=member.headers)).status_code == 200
    async with write_transaction(harness.services.sessions) as session:
        user = await users.get(session, user_id=member.id)
        await users.update(session, user=user, data=UserUpdate(active=False))
    assert (await harness.client.get("/api/me", headers=member.headers)).status_code == 401


async def test_a_token_revoked_by_another_worker_is_refused_on_the_next_request(
    harness: AppHarness,
) -> None:
    member = await harness.member("erin")
    assert (await harness.client.get("/api/me", headers=member.headers)).status_code == 200
    # Another worker: its own engine and sessions on the same database, nothing shared in memory.
    other = create_engine(harness.services.engine.url.render_as_string(hide_password=False))
    try:
        async with write_transaction(sessionmaker(other)) as session:
            user = await users.get(session, user_id=member.id)
            (token,) = (await api_tokens.list_page(session, user=user, page=PageRequest())).items
            await api_tokens.revoke(session, user=user, token_id=token.id)
    finally:
        await other.dispose()
    assert (await harness.client.get("/api/me", headers=member.headers)).status_code == 401


async def test_a_bulk_update_that_bypasses_the_epoch_is_seen_within_the_ttl(
    harness: AppHarness,
) -> None:
    harness.app.state.auth_cache = AuthCache(ApiToken, ttl=0.3)
    member = await harness.member("fred")
    assert (await harness.client.get("/api/me", headers=member.headers)).status_code == 200
    async with write_transaction(harness.services.sessions) as session:
        # A bulk UPDATE runs no flush, so it moves no epoch: only the TTL bounds it.
        await session.execute(
            update(ApiToken).where(ApiToken.user_id == member.id).values(revoked_at=clock.now())
        )
    revoked_at = time.monotonic()
    status = 200
    while status == 200 and time.monotonic() - revoked_at < 5:
        status = (await harness.client.get("/api/me", headers=member.headers)).status_code
    assert status == 401
    assert time.monotonic() - revoked_at < 0.3 + 1.0


async def test_a_signed_in_page_reads_only_the_epoch_and_a_logout_elsewhere_ends_it(
    harness: AppHarness,
) -> None:
    login = await harness.client.post(
        "/api/auth/login", json={"username": ADMIN, "password": PASSWORD}
    )
    assert login.status_code == 200
    cookies = dict(login.cookies)
    csrf = {"X-CSRF-Token": login.json()["csrfToken"]}
    assert (await harness.client.get("/api/me", cookies=cookies)).status_code == 200
    statements = await _statements_of(
        harness, lambda: harness.client.get("/api/me", cookies=cookies)
    )
    assert not [s for s in statements if "core_login_session" in s]
    # A write still needs the CSRF header, cached or not.
    made = await harness.client.post("/api/api-tokens", json={"name": "x"}, cookies=cookies)
    assert made.status_code == 403
    # Logging out through another worker (its own engine on the same database) ends it here too.
    other = create_engine(harness.services.engine.url.render_as_string(hide_password=False))
    try:
        async with write_transaction(sessionmaker(other)) as session:
            await login_sessions.close(session, secret=cookies["switchboard_session"])
    finally:
        await other.dispose()
    assert (await harness.client.get("/api/me", cookies=cookies)).status_code == 401
    refused = await harness.client.post(
        "/api/api-tokens", json={"name": "x"}, cookies=cookies, headers=csrf
    )
    assert refused.status_code == 401


async def test_a_cached_token_gives_each_request_its_own_user_and_billing_only_its_ids(
    harness: AppHarness,
) -> None:
    member = await harness.member("gina")
    assert (await harness.client.get("/api/me", headers=member.headers)).status_code == 200
    cache: AuthCache[ApiToken] = harness.app.state.auth_cache
    secret = member.headers["Authorization"].removeprefix("Bearer ")
    epoch = await auth_epoch.current(harness.services.sessions)
    found = cache.get(secret, epoch=epoch)
    assert found is not None
    first, second = Principal.of_token(found), Principal.of_token(found)
    assert first.caller.user_id == member.id and first.caller.api_token_id is not None
    assert "user" not in vars(first) and "api_token" not in vars(first)  # nothing built for ids
    first.user.display_name = "changed by one request"
    assert second.user is not first.user and second.user.display_name != first.user.display_name
    assert first.user is first.user and second.api_token is not None
    assert second.api_token.id == first.caller.api_token_id
