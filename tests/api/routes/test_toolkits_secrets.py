"""Toolkits whose headers take assistant secrets, refreshed and tested outside a chat."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import AppHarness, Harnesses
from tests.toolkits.servers import recorded_tool_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def recorded() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """The toolkit's own server."""
    with recorded_tool_server() as found:
        yield found


@pytest.fixture
def thief() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """A server of a user who would like an assistant's secrets."""
    with recorded_tool_server() as found:
        yield found


@pytest.fixture
async def app(
    make_harness: Harnesses,
    recorded: tuple[int, list[dict[str, str]]],
    thief: tuple[int, list[dict[str, str]]],
) -> AppHarness:
    hosts = [f"127.0.0.1:{recorded[0]}", f"127.0.0.1:{thief[0]}"]
    return await make_harness(toolkit_allowed_hosts=hosts)


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


async def _assistant(app: AppHarness, secret: str | None, *toolkit_ids: str, **fields: Any) -> str:
    body = {"name": "keeper", "toolkitIds": list(toolkit_ids), **fields}
    made = await _post(app, "/api/assistants", body, 201)
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
    assistant_id = await _assistant(app, "k-123", toolkit_id)
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
    assistant_id = await _assistant(app, None, toolkit_id)
    body = {"assistantId": assistant_id}
    refused = await _post(app, f"/api/toolkits/{toolkit_id}/_test", body, 422)
    assert refused["code"] == "toolkit_secret_missing" and refused["details"]["secret"] == "API_KEY"


async def test_an_assistant_the_caller_may_not_use_is_not_found(
    app: AppHarness, recorded: tuple[int, list[dict[str, str]]]
) -> None:
    port, seen = recorded
    toolkit_id = await _secret_toolkit(app, port)
    assistant_id = await _assistant(app, "admin-only", toolkit_id)
    member = await app.member("mallory")
    body = {"assistantId": assistant_id}
    path = f"/api/toolkits/{toolkit_id}/_refresh"
    refused = await _post(app, path, body, 404, headers=member.headers)
    assert refused["code"] == "assistant_not_found"
    assert seen == []


ACTIONS = ("_test", "_refresh", "_connect")


async def _thiefs_toolkit(app: AppHarness, port: int, headers: Any = None) -> str:
    body = {
        "name": "x",
        "url": f"http://127.0.0.1:{port}/mcp",
        "headers": {"X-Steal": {"secret": "API_KEY"}},
    }
    return str((await _post(app, "/api/toolkits", body, 201, headers=headers))["id"])


async def test_a_use_only_viewer_cannot_bind_a_shared_assistants_secrets_to_any_toolkit(
    app: AppHarness,
    recorded: tuple[int, list[dict[str, str]]],
    thief: tuple[int, list[dict[str, str]]],
) -> None:
    port, seen = recorded
    carried = await _secret_toolkit(app, port)
    shared = {"visibility": "instance", "permission": "use"}
    assistant_id = await _assistant(app, "inst-key-0451", carried, **shared)
    mallory = await app.member("mallory")
    own = await _thiefs_toolkit(app, thief[0], headers=mallory.headers)
    body = {"assistantId": assistant_id}
    for toolkit_id in (own, carried):
        for action in ACTIONS:
            path = f"/api/toolkits/{toolkit_id}/{action}"
            refused = await _post(app, path, body, 403, headers=mallory.headers)
            assert refused["code"] == "assistant_read_only"
    assert thief[1] == [] and seen == []


async def test_an_assistants_secrets_go_only_to_toolkits_it_carries_even_for_its_editor(
    app: AppHarness,
    recorded: tuple[int, list[dict[str, str]]],
    thief: tuple[int, list[dict[str, str]]],
) -> None:
    port, seen = recorded
    carried = await _secret_toolkit(app, port)
    assistant_id = await _assistant(app, "inst-key-0451", carried)
    other = await _thiefs_toolkit(app, thief[0])
    body = {"assistantId": assistant_id}
    for action in ACTIONS:
        refused = await _post(app, f"/api/toolkits/{other}/{action}", body, 422)
        assert refused["code"] == "toolkit_not_on_assistant"
        assert refused["details"] == {"assistant_id": assistant_id, "toolkit_id": other}
    assert thief[1] == []
    tested = await _post(app, f"/api/toolkits/{carried}/_test", body, 200)
    assert tested["state"] == "connected"
    assert seen and all(h.get("x-api-key") == "inst-key-0451" for h in seen)


async def test_a_toolkit_added_in_a_draft_gets_the_assistants_secrets_for_its_editors(
    app: AppHarness, thief: tuple[int, list[dict[str, str]]]
) -> None:
    port, seen = thief
    assistant_id = await _assistant(app, "draft-key-7")
    toolkit_id = await _thiefs_toolkit(app, port)
    draft = await _post(app, f"/api/assistants/{assistant_id}/_edit", None, 201)
    patched = await app.client.patch(
        f"/api/assistants/{draft['id']}",
        json={"toolkitIds": [toolkit_id]},
        headers=app.admin.headers,
    )
    assert patched.status_code == 200, patched.text
    body = {"assistantId": assistant_id}
    tested = await _post(app, f"/api/toolkits/{toolkit_id}/_test", body, 200)
    assert tested["state"] == "connected"
    assert seen and all(h.get("x-steal") == "draft-key-7" for h in seen)
