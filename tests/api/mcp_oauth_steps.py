"""Steps of the OAuth flow MCP clients follow against an in-process app (tests/api/routes/
test_mcp_oauth.py, test_mcp_clients.py): register, authorize and allow as a signed-in browser
session, redeem the code, refresh, call /mcp."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from core.models import AuditEvent
from tests.support import ADMIN, PASSWORD, AppHarness

BASE = "http://testserver"  # the apps' SWITCHBOARD_PUBLIC_URL
REDIRECT = "http://127.0.0.1:43123/callback"
RESOURCE = BASE + "/mcp"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}


@asynccontextmanager
async def signed_in(
    app: AppHarness, username: str = ADMIN, password: str = PASSWORD
) -> AsyncIterator[httpx.AsyncClient]:
    """A user signed in with a cookie session, as the web page is (CSRF header set)."""
    transport = httpx.ASGITransport(app=app.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        login = await client.post(
            "/api/auth/login", json={"username": username, "password": password}
        )
        assert login.status_code == 200, login.text
        client.headers["X-CSRF-Token"] = login.json()["csrfToken"]
        yield client


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass
class Flow:
    """A registered client part-way through the flow."""

    client_id: str
    verifier: str
    challenge: str


async def register(client: httpx.AsyncClient, **metadata: Any) -> httpx.Response:
    body = {"redirect_uris": [REDIRECT], "client_name": "Test client", **metadata}
    return await client.post("/register", json=body)


async def new_flow(client: httpx.AsyncClient) -> Flow:
    registered = await register(client, token_endpoint_auth_method="none")
    assert registered.status_code == 201, registered.text
    return Flow(registered.json()["client_id"], *pkce())


def authorize_query(flow: Flow, **changes: str | None) -> dict[str, str]:
    query: dict[str, str | None] = {
        "response_type": "code",
        "client_id": flow.client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": flow.challenge,
        "code_challenge_method": "S256",
        "state": "st4te",
        "scope": "mcp",
        "resource": RESOURCE,
        **changes,
    }
    return {k: v for k, v in query.items() if v is not None}


async def code_for(browser: httpx.AsyncClient, flow: Flow) -> str:
    """Authorize and allow as the signed-in admin; the code the client gets back."""
    asked = await browser.get("/authorize", params=authorize_query(flow))
    assert asked.status_code == 302, asked.text
    consent = urlsplit(asked.headers["location"]).fragment.removeprefix("/authorize/")
    allowed = await browser.post(f"/api/mcp-authorizations/{consent}/_allow")
    assert allowed.status_code == 200, allowed.text
    back = urlsplit(allowed.json()["redirectTo"])
    assert back.netloc == "127.0.0.1:43123"
    query = parse_qs(back.query)
    assert query["state"] == ["st4te"]
    return str(query["code"][0])


async def exchange(client: httpx.AsyncClient, flow: Flow, code: str, **changes: str) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": flow.client_id,
        "redirect_uri": REDIRECT,
        "code_verifier": flow.verifier,
        "resource": RESOURCE,
        **changes,
    }
    return await client.post("/token", data=form)


async def refresh(client: httpx.AsyncClient, flow: Flow, token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": flow.client_id}
    return await client.post("/token", data=form)


async def mcp_status(client: httpx.AsyncClient, token: str) -> int:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
    }
    return (await client.post("/mcp/", json=INITIALIZE, headers=headers)).status_code


async def audited(app: AppHarness, kind: str) -> list[AuditEvent]:
    """The audit events of one kind, oldest first."""
    async with app.services.sessions() as session:
        found = await session.scalars(
            select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.at)
        )
        return list(found)
