"""Switchboard as the OAuth 2.1 authorization server for /mcp, refusing bad input in the RFCs'
own error JSON: registration, /authorize, /token (codes, PKCE, refresh rotation), /revoke, and
the access token's audience (/mcp only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from core import clock
from core.mcp_oauth.models import OAuthAuthorization, OAuthClient, OAuthToken
from tests.api.mcp_oauth_steps import (
    BASE,
    REDIRECT,
    Flow,
    audited,
    authorize_query,
    code_for,
    exchange,
    mcp_status,
    new_flow,
    pkce,
    refresh,
    register,
    signed_in,
)
from tests.support import AppHarness, Harnesses, frozen_clock

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def app(make_module_harness: Harnesses) -> AsyncIterator[AppHarness]:
    allowed = ["claude.ai"]
    async with make_module_harness.running(
        public_url=BASE, mcp_oauth_allowed_redirect_hosts=allowed
    ) as harness:
        yield harness


@pytest.fixture(scope="module")
async def browser(app: AppHarness) -> AsyncIterator[httpx.AsyncClient]:
    """The admin signed in with a cookie session, as the web page is."""
    async with signed_in(app) as client:
        yield client


def _error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text
    assert response.json()["error_description"]


async def test_metadata_offers_code_flow_with_s256_pkce_and_the_mcp_scope(
    app: AppHarness,
) -> None:
    answer = await app.client.get("/.well-known/oauth-authorization-server")
    assert answer.headers["access-control-allow-origin"] == "*"  # browser-based clients
    found = answer.json()
    assert found["issuer"] == BASE
    assert found["registration_endpoint"] == BASE + "/register"
    assert found["code_challenge_methods_supported"] == ["S256"]
    assert found["token_endpoint_auth_methods_supported"] == ["none"]
    resource = (await app.client.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert resource["authorization_servers"] == [BASE]
    assert resource["scopes_supported"] == ["mcp"]
    preflight = await app.client.options(
        "/register",
        headers={"Origin": "http://localhost:6274", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()


async def test_registration_is_open_for_loopback_and_allowed_hosts_others_wait_for_an_admin(
    app: AppHarness, browser: httpx.AsyncClient
) -> None:
    loopback = await register(app.client)
    allowed = await register(app.client, redirect_uris=["https://claude.ai/api/callback"])
    other = await register(app.client, redirect_uris=["https://elsewhere.example/cb"])
    assert {loopback.status_code, allowed.status_code, other.status_code} == {201}
    listed = await app.client.get("/api/mcp-clients?status=pending", headers=app.admin.headers)
    pending = {c["id"] for c in listed.json()["_embedded"]["mcpClients"]}
    assert other.json()["client_id"] in pending
    assert not pending & {loopback.json()["client_id"], allowed.json()["client_id"]}
    waiting = Flow(other.json()["client_id"], *pkce())
    query = authorize_query(waiting, redirect_uri="https://elsewhere.example/cb")
    _error(await browser.get("/authorize", params=query), 400, "unauthorized_client")
    client_id = waiting.client_id
    approved = await app.client.post(
        f"/api/mcp-clients/{client_id}/_approve", headers=app.admin.headers
    )
    assert approved.json()["status"] == "active"
    assert (await browser.get("/authorize", params=query)).status_code == 302
    _error(
        await register(app.client, token_endpoint_auth_method="client_secret_basic"),
        400,
        "invalid_client_metadata",
    )
    _error(
        await register(app.client, redirect_uris=["http://evil.example/cb"]),
        400,
        "invalid_redirect_uri",
    )
    _error(await app.client.post("/register", content=b"[}"), 400, "invalid_client_metadata")


async def test_authorize_refuses_unknown_clients_and_redirect_uris_without_redirecting(
    app: AppHarness, browser: httpx.AsyncClient
) -> None:
    flow = await new_flow(app.client)
    unknown = authorize_query(flow, client_id="nosuchclient")
    _error(await browser.get("/authorize", params=unknown), 401, "invalid_client")
    elsewhere = authorize_query(flow, redirect_uri="http://127.0.0.1:43123/other")
    _error(await browser.get("/authorize", params=elsewhere), 400, "invalid_request")
    refusals = await audited(app, "mcp_authorize.refused")
    mine = [e.details for e in refusals if e.details.get("clientId") == flow.client_id]
    assert [d["redirectUri"] for d in mine] == ["http://127.0.0.1:43123/other"]
    assert any(e.details.get("clientId") == "nosuchclient" for e in refusals)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"resource": "https://other.example/mcp"}, "invalid_target"),
        ({"scope": "mcp admin"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
async def test_authorize_tells_the_client_what_is_wrong_at_its_redirect_uri(
    app: AppHarness, browser: httpx.AsyncClient, changes: dict[str, str | None], error: str
) -> None:
    flow = await new_flow(app.client)
    answer = await browser.get("/authorize", params=authorize_query(flow, **changes))
    assert answer.status_code == 302
    back = urlsplit(answer.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    assert parse_qs(back.query)["error"] == [error]
    assert parse_qs(back.query)["state"] == ["st4te"]


async def test_code_needs_its_verifier_and_a_replayed_code_revokes_what_it_gave(
    app: AppHarness, browser: httpx.AsyncClient
) -> None:
    flow = await new_flow(app.client)
    code = await code_for(browser, flow)
    wrong = await exchange(app.client, flow, code, code_verifier=pkce()[0])
    _error(wrong, 400, "invalid_grant")
    _error(
        await exchange(app.client, flow, code, redirect_uri=REDIRECT + "x"), 400, "invalid_grant"
    )
    _error(await exchange(app.client, flow, code, resource=BASE + "/api"), 400, "invalid_target")
    issued = await exchange(app.client, flow, code)
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "mcp"
    assert issued.headers["cache-control"] == "no-store"
    assert await mcp_status(app.client, tokens["access_token"]) == 200
    _error(await exchange(app.client, flow, code), 400, "invalid_grant")  # replayed
    assert await mcp_status(app.client, tokens["access_token"]) == 401
    [created] = [
        e for e in await audited(app, "grant.created") if e.details["clientId"] == flow.client_id
    ]
    revoked = [
        e.details for e in await audited(app, "grant.revoked") if e.subject_id == created.subject_id
    ]
    assert revoked == [{"reason": "code_replayed"}]
    refused = [
        e
        for e in await audited(app, "mcp_token.refused")
        if e.details["clientId"] == flow.client_id
    ]
    assert [e.details["error"] for e in refused] == ["invalid_grant"] * 2 + [
        "invalid_target",
        "invalid_grant",
    ]
    assert {e.outcome for e in refused} == {"failure"}
    _error(await refresh(app.client, flow, tokens["refresh_token"]), 400, "invalid_grant")


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_grant(
    app: AppHarness, browser: httpx.AsyncClient
) -> None:
    flow = await new_flow(app.client)
    first = (await exchange(app.client, flow, await code_for(browser, flow))).json()
    second = await refresh(app.client, flow, first["refresh_token"])
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert await mcp_status(app.client, rotated["access_token"]) == 200
    _error(await refresh(app.client, flow, first["refresh_token"]), 400, "invalid_grant")
    assert await mcp_status(app.client, rotated["access_token"]) == 401
    _error(await refresh(app.client, flow, rotated["refresh_token"]), 400, "invalid_grant")
    _error(
        await app.client.post("/token", data={"grant_type": "password"}),
        400,
        "unsupported_grant_type",
    )


async def test_an_mcp_access_token_works_on_mcp_only(
    app: AppHarness, browser: httpx.AsyncClient
) -> None:
    flow = await new_flow(app.client)
    tokens = (await exchange(app.client, flow, await code_for(browser, flow))).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    refused = await app.client.get("/api/me", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthenticated"
    assert "/mcp only" in refused.json()["message"]
    assert (await app.client.get("/v1/models", headers=headers)).status_code == 401
    assert await mcp_status(app.client, tokens["access_token"]) == 200
    revoked = await app.client.post(
        "/revoke", data={"token": tokens["refresh_token"], "client_id": flow.client_id}
    )
    assert revoked.status_code == 200
    assert await mcp_status(app.client, tokens["access_token"]) == 401


async def test_expired_requests_and_tokens_are_deleted_as_new_ones_are_made(
    app: AppHarness, browser: httpx.AsyncClient
) -> None:
    flow = await new_flow(app.client)
    tokens = (await exchange(app.client, flow, await code_for(browser, flow))).json()
    assert await mcp_status(app.client, tokens["access_token"]) == 200
    never_used = await new_flow(app.client)
    with frozen_clock(clock.now() + timedelta(days=40)):
        later = await new_flow(app.client)
        async with signed_in(app) as again:  # the first session has expired too
            code = await code_for(again, later)
        assert (await exchange(app.client, later, code)).status_code == 200
    async with app.services.sessions() as session:
        oldest_request = await session.scalar(select(func.min(OAuthAuthorization.created_at)))
        oldest_token = await session.scalar(select(func.min(OAuthToken.created_at)))
    assert oldest_request is not None and oldest_token is not None
    assert clock.as_utc(oldest_request) > clock.now() + timedelta(days=39)
    assert clock.as_utc(oldest_token) > clock.now() + timedelta(days=39)
    async with app.services.sessions() as session:  # registration forgets unconnected clients
        assert await session.get(OAuthClient, never_used.client_id) is None
        assert await session.get(OAuthClient, flow.client_id) is not None
