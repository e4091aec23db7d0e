"""Custom HTTP tools: written by hand or imported from OpenAPI, called on a loopback server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.models import User
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Caller, Harnesses, parse_sse
from tests.toolkits.servers import serve

pytestmark = pytest.mark.anyio
CANARY = "canary-5f1e0c9a7d"
STORED = "stored-value-41b7"


def petstore(base: str) -> dict[str, Any]:
    """A small petstore-like OpenAPI 3 document, with shared schemas behind `$ref`s."""
    pet_id = {"name": "petId", "in": "path", "required": True, "schema": {"type": "integer"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Petstore", "description": "Pets for sale."},
        "servers": [{"url": base + "/v1"}],
        "paths": {
            "/pets": {
                "get": {
                    "operationId": "listPets",
                    "summary": "List pets",
                    "parameters": [{"$ref": "#/components/parameters/limit"}],
                    "responses": {"200": {"description": "pets"}},
                },
                "post": {
                    "operationId": "createPet",
                    "summary": "Add a pet",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                        },
                    },
                    "responses": {"201": {"description": "made"}},
                },
            },
            "/pets/{petId}": {
                "parameters": [pet_id],
                "get": {"operationId": "showPetById", "summary": "One pet", "responses": {}},
                "delete": {"summary": "Remove a pet", "responses": {}},
            },
        },
        "components": {
            "parameters": {
                "limit": {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "maximum": 100, "exclusiveMinimum": True},
                }
            },
            "schemas": {
                "Pet": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "friends": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}},
                    },
                }
            },
        },
    }


@pytest.fixture(scope="module")
def api_server() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """A loopback HTTP API recording every request (method, path, query, headers, body); it
    serves its own OpenAPI document at /openapi.json."""
    seen: list[dict[str, Any]] = []
    port_box: list[int] = []

    async def record(request: Request) -> Response:
        if request.url.path == "/openapi.json":
            return JSONResponse(petstore(f"http://127.0.0.1:{port_box[0]}"))
        body = (await request.body()).decode()
        seen.append(
            {
                "method": request.method,
                "path": request.scope["raw_path"].decode(),
                "query": request.url.query,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": json.loads(body) if body else None,
            }
        )
        if request.url.path.endswith("/missing"):
            return JSONResponse({"error": "no such thing"}, status_code=404)
        if request.url.path.endswith("/huge"):
            return Response("x" * 1_000_000, media_type="text/plain")
        return JSONResponse({"ok": True, "path": request.url.path})

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(routes=[Route("/{path:path}", record, methods=methods)])
    with serve(app) as port:
        port_box.append(port)
        yield port, seen


@pytest.fixture(scope="module")
async def app(make_module_harness: Harnesses, api_server: tuple[int, list[Any]]) -> AppHarness:
    return await make_module_harness(toolkit_allowed_hosts=[f"127.0.0.1:{api_server[0]}"])


async def _post(app: AppHarness, path: str, body: Any, status: int = 201) -> Any:
    response = await app.client.post(path, json=body, headers=app.admin.headers)
    assert response.status_code == status, response.text
    return response.json()


async def _custom(app: AppHarness, port: int, name: str = "api", **extra: Any) -> str:
    body = {"name": name, "kind": "custom", "url": f"http://127.0.0.1:{port}", **extra}
    return str((await _post(app, "/api/toolkits", body))["id"])


ITEM_TOOL = {
    "name": "save_item",
    "description": "Save an item.",
    "parameters": {
        "type": "object",
        "properties": {
            "itemId": {"type": "string"},
            "query": {"type": "string"},
            "title": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "nothing": {"type": "string"},
            "nope": {"type": "string"},
        },
        "required": ["itemId", "title"],
    },
    "config": {
        "method": "POST",
        "url": "/items/{itemId}",
        "headers": {"X-Api-Key": {"secret": "API_KEY"}, "X-Stored": {"value": STORED}},
        "query": {"q": "{query}", "fixed": "1", "absent": "{nothing}"},
        "body": {"title": "{title}", "tags": "{tags}", "note": "item {itemId}", "gone": "{nope}"},
    },
    "sideEffects": False,
}


async def test_a_chat_calls_a_custom_tool_with_the_assistants_secret_and_the_model_gets_the_answer(
    app: AppHarness, upstream: FakeUpstream, api_server: tuple[int, list[dict[str, Any]]]
) -> None:
    port, seen = api_server
    toolkit_id = await _custom(app, port)
    made = await _post(app, f"/api/toolkits/{toolkit_id}/tools", ITEM_TOOL)
    assert made["type"] == "api-request" and made["enabled"] is True
    assistant = await _post(app, "/api/assistants", {"name": "Clerk", "toolkitIds": [toolkit_id]})
    await _post(
        app, f"/api/assistants/{assistant['id']}/secrets", {"name": "API_KEY", "value": CANARY}
    )
    arguments = {"itemId": "a/b c", "query": "x&y", "title": "T", "tags": ["red", "blue"]}
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": f"{toolkit_id}__save_item", "arguments": json.dumps(arguments)},
    }
    upstream.behave("fake", text="Saved.", tool_calls=[[call]])
    chat_id = await app.chat(app.admin, assistantId=assistant["id"])
    before = len(seen)
    response = await app.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "Save it.", "stream": True},
        headers=app.admin.headers,
    )
    results = [d for _, n, d in parse_sse(response.text) if n == "toolResult"]
    assert [r["ok"] for r in results] == [True], response.text
    [request] = seen[before:]
    assert request["method"] == "POST"
    assert request["path"] == "/items/a%2Fb%20c"
    assert request["query"] == "q=x%26y&fixed=1"
    assert request["body"] == {"title": "T", "tags": ["red", "blue"], "note": "item a/b c"}
    assert request["headers"]["x-api-key"] == CANARY
    assert request["headers"]["x-stored"] == STORED
    tool_turns = [m for m in upstream.recorder.requests[-1]["messages"] if m["role"] == "tool"]
    assert json.loads(tool_turns[0]["content"]) == {"ok": True, "path": "/items/a/b c"}
    shown = [response.text]
    for path in (f"/api/toolkits/{toolkit_id}/tools/save_item", f"/api/toolkits/{toolkit_id}"):
        got = await app.client.get(path, headers=app.admin.headers)
        assert got.status_code == 200, got.text
        shown.append(got.text)
    assert json.loads(shown[1])["config"]["headers"] == {
        "X-Api-Key": {"secret": "API_KEY", "encrypted": False},
        "X-Stored": {"secret": None, "encrypted": True},
    }
    assert not any(CANARY in text or STORED in text for text in shown)


async def test_the_secret_header_is_not_resolved_without_the_assistant_that_carries_the_toolkit(
    app: AppHarness, api_server: tuple[int, list[dict[str, Any]]]
) -> None:
    port, seen = api_server
    toolkit_id = await _custom(app, port, "no-assistant")
    await _post(app, f"/api/toolkits/{toolkit_id}/tools", ITEM_TOOL)
    before = len(seen)
    result = await app.services.toolkits.call_tool(
        user=await _user(app, app.admin),
        function_name=f"{toolkit_id}__save_item",
        arguments={"itemId": "1", "title": "T"},
    )
    assert not result.ok and "API_KEY" in result.content
    assert len(seen) == before


async def test_a_huge_answer_is_cut_to_the_result_cap_and_an_http_error_fails_the_call(
    app: AppHarness, api_server: tuple[int, list[dict[str, Any]]]
) -> None:
    toolkit_id = await _custom(app, api_server[0], "sizes")
    for name in ("huge", "missing"):
        await _post(
            app, f"/api/toolkits/{toolkit_id}/tools", {"name": name, "config": {"url": f"/{name}"}}
        )
    admin = await _user(app, app.admin)
    cap = app.services.toolkits.limits.result_max_chars
    huge = await app.services.toolkits.call_tool(
        user=admin, function_name=f"{toolkit_id}__huge", arguments={}
    )
    assert huge.ok and huge.truncated and cap < len(huge.content) < cap + 100
    missing = await app.services.toolkits.call_tool(
        user=admin, function_name=f"{toolkit_id}__missing", arguments={}
    )
    assert not missing.ok and missing.content.startswith("HTTP 404 Not Found:")
    assert "no such thing" in missing.content


async def _user(app: AppHarness, caller: Caller) -> User:
    async with app.services.sessions() as session:
        user = await session.get(User, caller.id)
    assert user is not None
    return user


async def test_an_openapi_document_by_url_becomes_one_tool_per_operation_and_one_is_called(
    app: AppHarness, api_server: tuple[int, list[dict[str, Any]]]
) -> None:
    port, seen = api_server
    body = {"url": f"http://127.0.0.1:{port}/openapi.json", "headers": {"X-Token": {"value": "t"}}}
    toolkit = await _post(app, "/api/toolkits/_import-openapi", body)
    assert (toolkit["name"], toolkit["kind"]) == ("Petstore", "custom")
    assert toolkit["url"] == f"http://127.0.0.1:{port}/v1"
    listed = await app.client.get(toolkit["_links"]["tools"]["href"], headers=app.admin.headers)
    tools = {t["name"]: t for t in listed.json()["_embedded"]["tools"]}
    assert set(tools) == {"listPets", "createPet", "showPetById", "delete_pets_petId"}
    assert tools["showPetById"]["inputSchema"]["required"] == ["petId"]
    create = tools["createPet"]
    assert create["sideEffects"] is True and create["type"] == "api-request"
    pet = create["inputSchema"]["properties"]["body"]
    assert pet["required"] == ["name"]
    assert pet["properties"]["friends"]["items"] == {}  # the recursion ends in an open schema
    assert "exclusiveMinimum" not in tools["listPets"]["inputSchema"]["properties"]["limit"]
    before = len(seen)
    result = await app.services.toolkits.call_tool(
        user=await _user(app, app.admin),
        function_name=create["functionName"],
        arguments={"body": {"name": "Rex"}},
    )
    assert result.ok, result.content
    [request] = seen[before:]
    assert (request["method"], request["path"], request["body"]) == (
        "POST",
        "/v1/pets",
        {"name": "Rex"},
    )
    assert request["headers"]["x-token"] == "t"
    refused = await app.services.toolkits.call_tool(
        user=await _user(app, app.admin),
        function_name=tools["showPetById"]["functionName"],
        arguments={"petId": "seven"},
    )
    assert not refused.ok and "petId" in refused.content and len(seen) == before + 1


async def test_put_replaces_the_tools_and_records_who_discovered_them(
    app: AppHarness, api_server: tuple[int, list[dict[str, Any]]]
) -> None:
    toolkit_id = await _custom(app, api_server[0], "replaced")
    await _post(app, f"/api/toolkits/{toolkit_id}/tools", ITEM_TOOL)
    fresh = {"name": "ping", "config": {"url": "/ping"}}
    replaced = await app.client.put(
        f"/api/toolkits/{toolkit_id}/tools",
        json={"tools": [fresh], "discoveredBy": "client"},
        headers=app.admin.headers,
    )
    assert replaced.status_code == 200, replaced.text
    [tool] = replaced.json()["_embedded"]["tools"]
    assert (tool["name"], tool["discoveredBy"], tool["sideEffects"]) == ("ping", "client", False)
    gone = await app.client.get(
        f"/api/toolkits/{toolkit_id}/tools/save_item", headers=app.admin.headers
    )
    assert gone.status_code == 404
    doubled = await app.client.put(
        f"/api/toolkits/{toolkit_id}/tools",
        json={"tools": [fresh, fresh]},
        headers=app.admin.headers,
    )
    assert doubled.status_code == 422 and doubled.json()["code"] == "invalid_tool"
    kept = await app.client.get(f"/api/toolkits/{toolkit_id}/tools", headers=app.admin.headers)
    assert [t["name"] for t in kept.json()["_embedded"]["tools"]] == ["ping"]


async def test_bad_tools_and_documents_get_clear_errors_and_private_addresses_are_refused(
    app: AppHarness, api_server: tuple[int, list[dict[str, Any]]]
) -> None:
    toolkit_id = await _custom(app, api_server[0], "strict")
    tools = f"/api/toolkits/{toolkit_id}/tools"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "t", "config": {"url": "http://10.1.2.3/x"}}, "unsafe_url"),
        ({"name": "t", "config": {"url": "http://127.0.0.1:1/x"}}, "unsafe_url"),
        ({"name": "t", "parameters": {"type": 5}, "config": {"url": "/x"}}, "invalid_tool"),
        ({"name": "t", "config": {"url": "/x/{who}"}}, "invalid_tool"),
        ({"name": "t", "config": {"url": "http://{host}/x"}}, "invalid_tool"),
        ({"name": "t", "config": {"url": "/x", "body": {"a": 1}}}, "invalid_tool"),
        ({"name": "bad name", "config": {"url": "/x"}}, "invalid_input"),
    ]
    for body, code in cases:
        response = await app.client.post(tools, json=body, headers=app.admin.headers)
        assert response.status_code == 422 and response.json()["code"] == code, (
            body,
            response.text,
        )
    documents: list[tuple[dict[str, Any], int, str]] = [
        ({"document": {"swagger": "2.0", "paths": {}}}, 422, "openapi_invalid"),
        ({"document": "openapi: 3.1.0\npaths: {}\n"}, 422, "openapi_invalid"),
        ({"document": "{not json"}, 422, "openapi_invalid"),
        ({"document": petstore("http://192.168.0.9")}, 422, "unsafe_url"),
        ({"url": "http://169.254.169.254/latest/openapi.json"}, 422, "unsafe_url"),
    ]
    for document, status, code in documents:
        response = await app.client.post(
            "/api/toolkits/_import-openapi", json=document, headers=app.admin.headers
        )
        assert response.status_code == status and response.json()["code"] == code, response.text
    mcp_url = f"http://127.0.0.1:{api_server[0]}/mcp"
    mcp = await _post(app, "/api/toolkits", {"name": "m", "url": mcp_url})
    refused = await app.client.post(
        f"/api/toolkits/{mcp['id']}/tools", json=ITEM_TOOL, headers=app.admin.headers
    )
    assert refused.status_code == 409 and refused.json()["code"] == "toolkit_not_custom"


async def test_another_user_cannot_see_or_change_a_toolkits_tools(
    app: AppHarness, api_server: tuple[int, list[dict[str, Any]]]
) -> None:
    toolkit_id = await _custom(app, api_server[0], "private")
    await _post(app, f"/api/toolkits/{toolkit_id}/tools", ITEM_TOOL)
    other = await app.member("custom-tools-other")
    tool = f"/api/toolkits/{toolkit_id}/tools/save_item"
    tools = f"/api/toolkits/{toolkit_id}/tools"
    attempts = [
        app.client.get(tool, headers=other.headers),
        app.client.get(tools, headers=other.headers),
        app.client.post(tools, json=ITEM_TOOL, headers=other.headers),
        app.client.put(tools, json={"tools": []}, headers=other.headers),
        app.client.patch(tool, json={"description": "mine"}, headers=other.headers),
        app.client.delete(tool, headers=other.headers),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 404, response.text
    mine = await app.services.toolkits.call_tool(
        user=await _user(app, other), function_name=f"{toolkit_id}__save_item", arguments={}
    )
    assert not mine.ok
    patched = await app.client.patch(
        tool, json={"description": "Saved."}, headers=app.admin.headers
    )
    assert patched.status_code == 200 and patched.json()["description"] == "Saved."
    deleted = await app.client.delete(tool, headers=app.admin.headers)
    assert deleted.status_code == 204
