"""Toolkits whose headers take assistant secrets, refreshed and tested outside a chat."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, make_catalog
from tests.toolkits.servers import build_tool_server, mcp_app, serve

pytestmark = pytest.mark.anyio


def _recording(app: Any, seen: list[dict[str, str]]) -> Any:
    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
        await app(scope, receive, send)

    return asgi


@pytest.fixture
def recorded() -> Iterator[tuple[int, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    with serve(_recording(mcp_app(build_tool_server()), seen)) as port:
        yield port, seen


@pytest.fixture
async def app(
    upstream: FakeUpstream, tmp_path: Path, recorded: tuple[int, list[dict[str, str]]]
) -> AsyncIterator[AppHarness]:
    hosts = [f"127.0.0.1:{recorded[0]}"]
    catalog = make_catalog(upstream.base_url)
    async with AppHarness.start(catalog, tmp_path, toolkit_allowed_hosts=hosts) as running:
        yield running


async def _post(app: AppHarness, path: str, body: Any, status: int, headers: Any = None) -> Any:
    response = await app.client.post(path, json=body, headers=headers or app.admin.headers)
    assert response.status_code == status, response.text
    return response.json()


async def _secret_toolkit(app: AppHarness, port: int) -> str:
    body = {
        "name": "keyed",
        "url": f"http://127.0.0.1:{port}/mcp",
        "headers": {"X-Api-Key": {"secret": "API_KEY"}},
        "shared": True,
    }
    return str((await _post(app, "/api/toolkits", body, 201))["id"])


async def _assistant(app: AppHarness, secret: str | None) -> str:
    made = await _post(app, "/api/assistants", {"name": "keeper"}, 201)
    if secret is not None:
        body = {"name": "API_KEY", "value": secret}
        await _post(app, f"/api/assistants/{made['id']}/secrets", body, 201)
    return str(made["id"])


async def test_refresh_without_an_assistant_names_the_missing_secret(
    app: AppHarness, recorded: tuple[int, list[dict[str, str]]]
) -> None:
    port, seen = recorded
    toolkit_id = await _secret_toolkit(app, port)
    for action in ("_refresh", "_test"):
        refused = await _post(app, f"/api/toolkits/{toolkit_id}/{action}", None, 422)
        assert refused["code"] == "toolkit_secret_missing"
        assert refused["details"] == {"secret": "API_KEY", "header": "X-Api-Key"}
        assert "API_KEY" in refused["message"]
    assert seen == []


async def test_refresh_with_an_assistant_sends_its_secret_and_stores_the_tools(
    app: AppHarness, recorded: tuple[int, list[dict[str, str]]]
) -> None:
    port, seen = recorded
    toolkit_id = await _secret_toolkit(app, port)
    assistant_id = await _assistant(app, "k-123")
    body = {"assistantId": assistant_id}
    refreshed = await _post(app, f"/api/toolkits/{toolkit_id}/_refresh", body, 200)
    assert refreshed["connection"]["state"] == "connected"
    assert refreshed["connection"]["reason"] is None
    assert "echo" in {t["name"] for t in refreshed["_embedded"]["tools"]}
    assert seen and all(h.get("x-api-key") == "k-123" for h in seen)
    tested = await _post(app, f"/api/toolkits/{toolkit_id}/_test", body, 200)
    assert tested["state"] == "connected" and tested["toolCount"] >= 4


async def test_an_assistant_without_the_secret_is_refused_naming_it(
    app: AppHarness, recorded: tuple[int, list[dict[str, str]]]
) -> None:
    port, _ = recorded
    toolkit_id = await _secret_toolkit(app, port)
    assistant_id = await _assistant(app, None)
    body = {"assistantId": assistant_id}
    refused = await _post(app, f"/api/toolkits/{toolkit_id}/_test", body, 422)
    assert refused["code"] == "toolkit_secret_missing" and refused["details"]["secret"] == "API_KEY"


async def test_an_assistant_the_caller_may_not_use_is_not_found(
    app: AppHarness, recorded: tuple[int, list[dict[str, str]]]
) -> None:
    port, seen = recorded
    toolkit_id = await _secret_toolkit(app, port)
    assistant_id = await _assistant(app, "admin-only")
    member = await app.member("mallory")
    body = {"assistantId": assistant_id}
    path = f"/api/toolkits/{toolkit_id}/_refresh"
    refused = await _post(app, path, body, 404, headers=member.headers)
    assert refused["code"] == "assistant_not_found"
    assert seen == []
