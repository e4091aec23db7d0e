"""An MCP client signs in to a served Switchboard with OAuth, as Claude Desktop, Cursor or VS Code
do: the `mcp` SDK's own OAuthClientProvider registers, sends the browser to /authorize (headless
Chromium signs in and clicks "Allow"), takes the code at its loopback redirect, gets tokens, lists
tools over Streamable HTTP, refreshes, and is refused once revoked. The MCP Inspector CLI lists
the tools with a token obtained that way."""

from __future__ import annotations

import asyncio
import json
import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from playwright.sync_api import Browser
from pydantic import AnyUrl

from tests.fakes.upstream import FakeUpstream
from tests.served import Served, serve
from tests.support import ADMIN, PASSWORD
from tests.web.conftest import log_in

pytestmark = pytest.mark.browser
NODE_MODULES = Path(__file__).resolve().parents[1] / "node" / "node_modules"
INSPECTOR = NODE_MODULES / ".bin" / "mcp-inspector-cli"
INSPECTOR_BUILD = NODE_MODULES / "@modelcontextprotocol" / "inspector-cli" / "build"
WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def served(
    fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("mcp-oauth"), fake_upstream_server.base_url) as running:
        yield running


class Storage:
    """The client's token and registration store (in memory, as the SDK's examples keep it)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class _Callback(BaseHTTPRequestHandler):
    """The client's loopback redirect URI: hands each request's path to the waiting client."""

    def do_GET(self) -> None:
        self.server.received.put(self.path)  # type: ignore[attr-defined]
        body = b"Signed in; you can close this window."
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def loopback() -> Iterator[tuple[str, queue.Queue[str]]]:
    """A loopback HTTP server as desktop MCP clients run for the redirect; its URI and what
    arrives at it."""
    server = HTTPServer(("127.0.0.1", 0), _Callback)
    received: queue.Queue[str] = queue.Queue()
    server.received = received  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/callback", received
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Journey:
    """The MCP client's side, run in a thread of its own (Playwright's sync API holds this one):
    it hands the authorization URL to the browser and waits for the code at its loopback URI."""

    url: str
    redirect_uri: str
    received: queue.Queue[str]
    authorize_urls: queue.Queue[str] = field(default_factory=queue.Queue)
    storage: Storage = field(default_factory=Storage)
    tools: list[list[str]] = field(default_factory=list)
    tokens: list[OAuthToken] = field(default_factory=list)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as error:  # reported by the test, in its thread
            self.error = error
            self.authorize_urls.put("")

    async def _run(self) -> None:
        metadata = OAuthClientMetadata(
            client_name="Switchboard test client",
            redirect_uris=[AnyUrl(self.redirect_uri)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        )
        provider = OAuthClientProvider(
            server_url=self.url + "/mcp",
            client_metadata=metadata,
            storage=self.storage,
            redirect_handler=self._redirect,
            callback_handler=self._callback,
        )
        self.tools.append(await self._list_tools(provider))  # registers, authorizes, gets tokens
        assert self.storage.tokens is not None
        self.tokens.append(self.storage.tokens)
        provider.context.token_expiry_time = time.time() - 1  # the access token is due: refresh
        self.tools.append(await self._list_tools(provider))
        self.tokens.append(self.storage.tokens)

    async def _list_tools(self, provider: OAuthClientProvider) -> list[str]:
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30) as http,
            Client(streamable_http_client(self.url + "/mcp/", http_client=http)) as client,
        ):
            return sorted(tool.name for tool in (await client.list_tools()).tools)

    async def _redirect(self, authorization_url: str) -> None:
        self.authorize_urls.put(authorization_url)

    async def _callback(self) -> AuthorizationCodeResult:
        path = await anyio.to_thread.run_sync(lambda: self.received.get(timeout=WAIT_SECONDS))
        query = parse_qs(urlsplit(path).query)
        return AuthorizationCodeResult(code=query["code"][0], state=query["state"][0])


def allow_in_browser(browser: Browser, authorization_url: str, redirect_uri: str) -> None:
    """What the user does: open the link, sign in, read the consent, click "Allow"."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(authorization_url)
        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        heading = re.compile("Allow Switchboard test client to use Switchboard as you")
        page.get_by_role("heading", name=heading).wait_for()
        consent = page.locator(".consent").inner_text()
        assert ADMIN in consent and "mcp" in consent
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(redirect_uri + "?*")
        page.get_by_text("Signed in; you can close this window.").wait_for()
    finally:
        context.close()
    assert not problems, problems


def inspector_tools(url: str, token: str) -> list[str]:
    """The tools the MCP Inspector CLI lists at /mcp with a Bearer token."""
    # The CLI takes the server URL as its target (its --server-url is for the web UI), and finds
    # its own package.json relative to the working directory: run it from its build folder.
    command = [str(INSPECTOR), "--cli", url + "/mcp", "--transport", "http"]
    command += ["--header", f"Authorization: Bearer {token}", "--method", "tools/list"]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=WAIT_SECONDS, cwd=INSPECTOR_BUILD
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return sorted(tool["name"] for tool in json.loads(done.stdout)["tools"])


def test_mcp_client_signs_in_by_oauth_lists_tools_refreshes_and_is_refused_once_revoked(
    served: Served, browser: Browser
) -> None:
    with loopback() as (redirect_uri, received):
        journey = Journey(served.url, redirect_uri, received)
        client = threading.Thread(target=journey.run, daemon=True)
        client.start()
        authorization_url = journey.authorize_urls.get(timeout=WAIT_SECONDS)
        assert journey.error is None, journey.error
        assert authorization_url.startswith(served.url + "/authorize?")
        allow_in_browser(browser, authorization_url, redirect_uri)
        client.join(timeout=WAIT_SECONDS)
    assert journey.error is None, repr(journey.error)
    first, refreshed = journey.tokens
    assert "list_chats" in journey.tools[0] and journey.tools[1] == journey.tools[0]
    assert refreshed.access_token != first.access_token
    assert refreshed.refresh_token != first.refresh_token
    assert inspector_tools(served.url, refreshed.access_token) == journey.tools[0]

    listed = httpx.get(served.url + "/api/users/me/mcp-clients", headers=served.headers).json()
    [connected] = listed["_embedded"]["mcpClients"]
    assert connected["clientName"] == "Switchboard test client"
    assert journey.storage.client is not None
    form = {"token": refreshed.refresh_token, "client_id": journey.storage.client.client_id}
    assert httpx.post(served.url + "/revoke", data=form).status_code == 200
    headers = {
        "Authorization": f"Bearer {refreshed.access_token}",
        "Accept": "application/json, text/event-stream",
    }
    refused = httpx.post(served.url + "/mcp/", json=INITIALIZE, headers=headers)
    assert refused.status_code == 401
    assert "resource_metadata=" in refused.headers["www-authenticate"]


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


def test_admin_approves_a_waiting_mcp_client_on_the_admin_page(
    served: Served, browser: Browser
) -> None:
    body = {"client_name": "Far client", "redirect_uris": ["https://far.example/callback"]}
    registered = httpx.post(served.url + "/register", json=body).json()
    context = browser.new_context(base_url=served.url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        log_in(page)
        page.goto("/#/admin/mcpClients")
        waiting = page.get_by_role("region", name="Awaiting approval")
        waiting.get_by_role("button", name="Approve Far client").click()
        approved = page.get_by_role("region", name="Approved")
        approved.get_by_text("https://far.example/callback").wait_for()
    finally:
        context.close()
    listed = httpx.get(served.url + "/api/mcp-clients?status=active", headers=served.headers).json()
    assert registered["client_id"] in {c["id"] for c in listed["_embedded"]["mcpClients"]}
