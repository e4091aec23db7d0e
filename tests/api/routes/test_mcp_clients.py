"""MCP clients through the JSON API: the consent the page asks for, each user's connected
clients (listed, revoked, kept apart), and admins removing a client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.mcp_oauth_steps import (
    BASE,
    authorize_query,
    code_for,
    exchange,
    mcp_status,
    new_flow,
    signed_in,
)
from tests.support import PASSWORD, AppHarness, Harnesses

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def app(make_module_harness: Harnesses) -> AsyncIterator[AppHarness]:
    async with make_module_harness.running(public_url=BASE) as harness:
        await harness.member("mina")
        yield harness


async def test_consent_shows_client_scopes_and_user_and_deny_tells_the_client(
    app: AppHarness,
) -> None:
    flow = await new_flow(app.client)
    async with signed_in(app, "mina") as browser:
        asked = await browser.get("/authorize", params=authorize_query(flow))
        consent = urlsplit(asked.headers["location"]).fragment.removeprefix("/authorize/")
        shown = await browser.get(f"/api/mcp-authorizations/{consent}")
        assert shown.status_code == 200, shown.text
        body = shown.json()
        assert (body["clientName"], body["scopes"]) == ("Test client", ["mcp"])
        assert body["user"]["username"] == "mina"
        with_token = await app.client.get(
            f"/api/mcp-authorizations/{consent}", headers=app.admin.headers
        )
        assert with_token.status_code == 403
        assert with_token.json()["code"] == "consent_needs_sign_in"
        denied = await browser.post(f"/api/mcp-authorizations/{consent}/_deny")
        assert parse_qs(urlsplit(denied.json()["redirectTo"]).query)["error"] == ["access_denied"]
        again = await browser.post(f"/api/mcp-authorizations/{consent}/_allow")
        assert again.status_code == 404
        assert again.json()["code"] == "mcp_authorization_not_found"


async def test_users_list_and_revoke_their_own_connected_clients_only(app: AppHarness) -> None:
    flow = await new_flow(app.client)
    async with signed_in(app, "mina") as mina:
        tokens = (await exchange(app.client, flow, await code_for(mina, flow))).json()
        listed = (await mina.get("/api/users/me/mcp-clients")).json()
        [connected] = listed["_embedded"]["mcpClients"]
        assert (connected["clientId"], connected["scopes"]) == (flow.client_id, ["mcp"])
        theirs = await app.client.get("/api/users/me/mcp-clients", headers=app.admin.headers)
        assert connected["id"] not in str(theirs.json())
        path = f"/api/users/me/mcp-clients/{connected['id']}"
        assert (await app.client.delete(path, headers=app.admin.headers)).status_code == 404
        assert await mcp_status(app.client, tokens["access_token"]) == 200
        assert (await mina.delete(path)).status_code == 204
        assert await mcp_status(app.client, tokens["access_token"]) == 401
        assert (await mina.get("/api/users/me/mcp-clients")).json()["total"] == 0


async def test_admins_remove_a_client_and_its_tokens_with_it(app: AppHarness) -> None:
    flow = await new_flow(app.client)
    async with signed_in(app) as admin:
        tokens = (await exchange(app.client, flow, await code_for(admin, flow))).json()
    async with signed_in(app, "mina") as mina:
        path = f"/api/mcp-clients/{flow.client_id}"
        assert (await mina.delete(path)).status_code == 403
    assert (await app.client.delete(path, headers=app.admin.headers)).status_code == 204
    assert await mcp_status(app.client, tokens["access_token"]) == 401
    assert (await app.client.delete(path, headers=app.admin.headers)).status_code == 404
    approve = f"/api/mcp-clients/{flow.client_id}/_approve"
    assert (await app.client.post(approve, headers=app.admin.headers)).status_code == 404


async def test_a_new_password_disconnects_the_users_mcp_clients_unless_tokens_are_kept(
    app: AppHarness,
) -> None:
    kept, ended = await new_flow(app.client), await new_flow(app.client)
    async with signed_in(app, "mina") as mina:
        kept_tokens = (await exchange(app.client, kept, await code_for(mina, kept))).json()
        me = (await mina.get("/api/me")).json()
    path = f"/api/users/{me['id']}"
    changed = "Another-long-passphrase-7"
    keep = {"password": changed, "keepApiTokens": True}
    assert (await app.client.patch(path, json=keep, headers=app.admin.headers)).status_code == 200
    assert await mcp_status(app.client, kept_tokens["access_token"]) == 200
    async with signed_in(app, "mina", changed) as mina:
        tokens = (await exchange(app.client, ended, await code_for(mina, ended))).json()
    new = {"password": PASSWORD}
    assert (await app.client.patch(path, json=new, headers=app.admin.headers)).status_code == 200
    assert await mcp_status(app.client, tokens["access_token"]) == 401
    assert await mcp_status(app.client, kept_tokens["access_token"]) == 401
