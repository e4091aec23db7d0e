"""External toolkits behind OAuth 2.1: sign-in with PKCE, callback, refresh, sign-out, SSRF."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from api import tool_sources
from core.models import User
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Caller, Harnesses, loopback_socket, parse_sse, port_of
from tests.toolkits.oauth_server import (
    AutoApprovingProvider,
    build_foreign_issuer_server,
    build_oauth_server,
)
from tests.toolkits.servers import Canary, mcp_app, serve
from toolkits.models import ToolkitGrant
from toolkits.oauth import GrantStorage

pytestmark = pytest.mark.anyio
CALLBACK = "http://testserver/api/toolkits/oauth/callback"


@pytest.fixture
def provider() -> AutoApprovingProvider:
    return AutoApprovingProvider()


@pytest.fixture
def oauth_port(provider: AutoApprovingProvider) -> Iterator[int]:
    sock = loopback_socket()
    port = port_of(sock)
    with serve(mcp_app(build_oauth_server(port, provider)), sock):
        yield port


@pytest.fixture
async def app(make_harness: Harnesses, oauth_port: int) -> AppHarness:
    return await make_harness(
        toolkit_allowed_hosts=[f"127.0.0.1:{oauth_port}"],
        public_url="http://testserver",
        tool_call_timeout_seconds=5.0,
    )


async def _toolkit(app: AppHarness, port: int) -> str:
    body = {"name": "Tracker", "url": f"http://127.0.0.1:{port}/mcp", "shared": True}
    made = await app.client.post("/api/toolkits", json=body, headers=app.admin.headers)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def _approve_at(url: str) -> str:
    """Open the authorization URL as the user's browser would; the server approves at once and
    redirects back: the callback's path and query."""
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url, follow_redirects=False)
    assert answer.status_code in {302, 303, 307}, answer.text
    location = answer.headers["location"]
    assert location.startswith(CALLBACK + "?"), location
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


async def _signed_in(app: AppHarness, toolkit_id: str, caller: Caller) -> httpx.Response:
    started = await app.client.post(f"/api/toolkits/{toolkit_id}/_connect", headers=caller.headers)
    assert started.status_code == 200, started.text
    assert started.json()["state"] == "needs_sign_in", started.json()
    callback = await _approve_at(started.json()["authorizationUrl"])
    return await app.client.get(callback, headers=caller.headers)


async def _user(app: AppHarness, caller: Caller) -> User:
    async with app.services.sessions() as session:
        user = await session.get(User, caller.id)
    assert user is not None
    return user


async def test_discovery_before_sign_in_says_where_to_sign_in_then_the_callback_connects(
    app: AppHarness, oauth_port: int, provider: AutoApprovingProvider
) -> None:
    toolkit_id = await _toolkit(app, oauth_port)
    refreshed = await app.client.post(
        f"/api/toolkits/{toolkit_id}/_refresh", headers=app.admin.headers
    )
    assert refreshed.status_code == 200, refreshed.text
    connection = refreshed.json()["connection"]
    assert connection["state"] == "needs_sign_in"
    assert f"Sign in to Tracker at http://127.0.0.1:{oauth_port}/authorize?" in connection["reason"]
    shown = (await app.client.get(f"/api/toolkits/{toolkit_id}", headers=app.admin.headers)).json()
    url = shown["connection"]["authorizationUrl"]
    assert shown["connection"]["state"] == "needs_sign_in" and url in connection["reason"]
    assert connection["authorizationUrl"] == url
    assert "code_challenge_method=S256" in url and len(provider.clients) == 1

    done = await app.client.get(await _approve_at(url), headers=app.admin.headers)
    assert done.status_code == 200, done.text
    assert done.json()["connection"]["state"] == "connected"
    listed = await app.client.get("/api/toolkits", headers=app.admin.headers)
    states = {t["id"]: t["connection"]["state"] for t in listed.json()["_embedded"]["toolkits"]}
    assert states[toolkit_id] == "connected"
    tools = await app.client.get(f"/api/toolkits/{toolkit_id}/tools", headers=app.admin.headers)
    assert [(t["name"], t["enabled"]) for t in tools.json()["_embedded"]["tools"]] == [
        ("whoami", True)
    ]
    result = await app.services.toolkits.call_tool(
        user=await _user(app, app.admin), function_name=f"{toolkit_id}__whoami", arguments={}
    )
    assert result.ok and result.content == "signed in as tester"
    async with app.services.sessions() as session:
        grant = await session.scalar(select(ToolkitGrant))
    assert grant is not None and grant.tokens is not None
    assert all(token not in grant.tokens for token in provider.access)


async def test_a_wrong_replayed_or_foreign_state_is_refused(
    app: AppHarness, oauth_port: int
) -> None:
    toolkit_id = await _toolkit(app, oauth_port)
    started = await app.client.post(
        f"/api/toolkits/{toolkit_id}/_connect", headers=app.admin.headers
    )
    callback = await _approve_at(started.json()["authorizationUrl"])
    member = await app.member("eve")
    foreign = await app.client.get(callback, headers=member.headers)
    assert foreign.status_code == 422 and foreign.json()["code"] == "sign_in_state_invalid"
    wrong = await app.client.get(
        "/api/toolkits/oauth/callback",
        params={"state": "not-a-state", "code": "x"},
        headers=app.admin.headers,
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "sign_in_state_invalid"
    first = await app.client.get(callback, headers=app.admin.headers)
    assert first.status_code == 200 and first.json()["connection"]["state"] == "connected"
    replayed = await app.client.get(callback, headers=app.admin.headers)
    assert replayed.status_code == 422 and "already" in replayed.json()["message"]
    unauthenticated = await app.client.get(callback)
    assert unauthenticated.status_code == 401


async def test_an_expired_token_is_refreshed_without_a_new_sign_in(
    app: AppHarness, oauth_port: int, provider: AutoApprovingProvider
) -> None:
    toolkit_id = await _toolkit(app, oauth_port)
    assert (await _signed_in(app, toolkit_id, app.admin)).json()["connection"]["state"] == (
        "connected"
    )
    provider.expire_access_tokens()
    storage = GrantStorage(
        app.services.sessions,
        app.services.toolkits.sealer,
        toolkit_id=toolkit_id,
        user_id=app.admin.id,
    )
    await storage.expire_tokens()
    result = await app.services.toolkits.call_tool(
        user=await _user(app, app.admin), function_name=f"{toolkit_id}__whoami", arguments={}
    )
    assert result.ok and result.content == "signed in as tester"
    assert provider.refreshed == 1 and provider.authorized == 1


async def test_a_token_that_cannot_be_refreshed_asks_for_sign_in_in_the_tool_result(
    app: AppHarness, oauth_port: int, provider: AutoApprovingProvider
) -> None:
    toolkit_id = await _toolkit(app, oauth_port)
    await _signed_in(app, toolkit_id, app.admin)
    provider.expire_access_tokens()
    provider.revoke_refresh_tokens()
    result = await app.services.toolkits.call_tool(
        user=await _user(app, app.admin), function_name=f"{toolkit_id}__whoami", arguments={}
    )
    assert not result.ok
    assert f"Sign in to Tracker at http://127.0.0.1:{oauth_port}/authorize?" in result.content
    shown = (await app.client.get(f"/api/toolkits/{toolkit_id}", headers=app.admin.headers)).json()
    assert shown["connection"]["state"] == "needs_sign_in"
    assert shown["connection"]["authorizationUrl"] in result.content


async def test_each_user_signs_in_for_themselves_and_can_sign_out(
    app: AppHarness, oauth_port: int
) -> None:
    toolkit_id = await _toolkit(app, oauth_port)
    await _signed_in(app, toolkit_id, app.admin)
    member = await app.member("bob")
    theirs = await app.client.post(f"/api/toolkits/{toolkit_id}/_test", headers=member.headers)
    assert theirs.json()["state"] == "needs_sign_in"
    out = await app.client.post(
        f"/api/toolkits/{toolkit_id}/_disconnect", headers=app.admin.headers
    )
    assert out.status_code == 200 and out.json()["connection"]["state"] == "needs_sign_in"
    async with app.services.sessions() as session:
        grants = list(await session.scalars(select(ToolkitGrant)))
    assert all(g.user_id != app.admin.id for g in grants)
    again = await app.client.post(f"/api/toolkits/{toolkit_id}/_test", headers=app.admin.headers)
    assert again.json()["state"] == "needs_sign_in"


async def test_an_authorization_server_on_a_forbidden_address_is_never_contacted(
    make_harness: Harnesses,
) -> None:
    canary = Canary()
    sock = loopback_socket()
    port = port_of(sock)
    try:
        with serve(mcp_app(build_foreign_issuer_server(port, canary.port)), sock):
            async with make_harness.running(
                toolkit_allowed_hosts=[f"127.0.0.1:{port}"],
                tool_call_timeout_seconds=5.0,
            ) as app:
                toolkit_id = await _toolkit(app, port)
                tested = await app.client.post(
                    f"/api/toolkits/{toolkit_id}/_test", headers=app.admin.headers
                )
                connect = await app.client.post(
                    f"/api/toolkits/{toolkit_id}/_connect", headers=app.admin.headers
                )
    finally:
        canary.close()
    assert tested.json()["state"] == "failed", tested.json()
    assert "address guard" in tested.json()["reason"]
    assert connect.json()["state"] == "failed" and connect.json()["authorizationUrl"] is None
    assert canary.connections == 0


async def test_in_chat_a_lost_sign_in_is_a_tool_error_saying_where_to_sign_in(
    app: AppHarness, oauth_port: int, provider: AutoApprovingProvider, upstream: FakeUpstream
) -> None:
    toolkit_id = await _toolkit(app, oauth_port)
    await _signed_in(app, toolkit_id, app.admin)
    approved = await app.client.post(
        f"/api/toolkits/{toolkit_id}/tools/whoami/_approve",
        json={"sideEffects": False},
        headers=app.admin.headers,
    )
    assert approved.status_code == 200, approved.text
    provider.expire_access_tokens()
    provider.revoke_refresh_tokens()
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": f"{toolkit_id}__whoami", "arguments": "{}"},
    }
    upstream.behave("fake", text="Please sign in first.", tool_calls=[[call]])
    made = await app.client.post(
        "/api/chats", json={"toolkitIds": [toolkit_id]}, headers=app.admin.headers
    )
    answer = await app.client.post(
        f"/api/chats/{made.json()['id']}/messages",
        json={"content": "Who am I there?", "stream": True},
        headers=app.admin.headers,
    )
    results = [data for _, name, data in parse_sse(answer.text) if name == "toolResult"]
    assert len(results) == 1 and results[0]["ok"] is False
    assert (
        f"Sign in to Tracker at http://127.0.0.1:{oauth_port}/authorize?" in results[0]["content"]
    )
    assert parse_sse(answer.text)[-1][1] == "done"


async def test_a_callback_reaching_another_worker_completes_the_sign_in_through_the_database(
    app: AppHarness, oauth_port: int
) -> None:
    toolkit_id = await _toolkit(app, oauth_port)
    started = await app.client.post(
        f"/api/toolkits/{toolkit_id}/_connect", headers=app.admin.headers
    )
    query = parse_qs(urlsplit(await _approve_at(started.json()["authorizationUrl"])).query)
    other_worker = tool_sources.build_toolkits(app.services.settings, app.services.sessions)
    admin = await _user(app, app.admin)
    try:
        done_for = await other_worker.complete_sign_in(
            user=admin, state=query["state"][0], code=query["code"][0], error=None
        )
    finally:
        await other_worker.stop()
    assert done_for == toolkit_id
    await app.services.toolkits.sign_ins.wait_done(toolkit_id, admin.id, timeout=20)
    shown = (await app.client.get(f"/api/toolkits/{toolkit_id}", headers=app.admin.headers)).json()
    assert shown["connection"]["state"] == "connected"


async def test_a_refused_sign_in_leaves_the_connection_failed_with_the_reason(
    app: AppHarness, oauth_port: int
) -> None:
    toolkit_id = await _toolkit(app, oauth_port)
    started = await app.client.post(
        f"/api/toolkits/{toolkit_id}/_connect", headers=app.admin.headers
    )
    state = parse_qs(urlsplit(started.json()["authorizationUrl"]).query)["state"][0]
    refused = await app.client.get(
        "/api/toolkits/oauth/callback",
        params={"state": state, "error": "access_denied"},
        headers=app.admin.headers,
    )
    assert refused.status_code == 200, refused.text
    connection = refused.json()["connection"]
    assert connection["state"] == "failed" and "access_denied" in connection["reason"]
