"""Switchboard's /mcp endpoint through the `mcp` client against a real uvicorn server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.fakes.upstream import FakeUpstream
from tests.support import ADMIN, PASSWORD, eventually_blocking, live_server, make_catalog

pytestmark = pytest.mark.anyio
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
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def server(upstream: FakeUpstream, tmp_path: Path) -> Iterator[str]:
    with live_server(make_catalog(upstream.base_url), tmp_path) as url:
        yield url


def _login_token(base: str, username: str) -> tuple[str, str]:
    with httpx.Client(base_url=base, timeout=30) as client:
        login = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.text
        made = client.post(
            "/api/api-tokens",
            json={"name": "mcp"},
            headers={"X-CSRF-Token": login.json()["csrfToken"]},
        )
        assert made.status_code == 201, made.text
        return str(made.json()["token"]), str(made.json()["id"])


def _member(base: str, admin_token: str, username: str) -> str:
    headers = {"Authorization": f"Bearer {admin_token}"}
    body = {"username": username, "password": PASSWORD, "role": "member"}
    made = httpx.post(f"{base}/api/users", json=body, headers=headers, timeout=30)
    assert made.status_code == 201, made.text
    return _login_token(base, username)[0]


@asynccontextmanager
async def _mcp(base: str, token: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{base}/mcp/", http_client=http)) as client,
    ):
        yield client


def _json(result: Any) -> dict[str, Any]:
    """A tool's result; its text block and its structured content (which the client has checked
    against the tool's outputSchema) say the same."""
    assert not result.is_error, result.content
    data: dict[str, Any] = json.loads(result.content[0].text)
    assert result.structured_content == data
    return data


async def test_mcp_client_initializes_lists_and_calls_every_tool(server: str) -> None:
    token, _ = _login_token(server, ADMIN)
    async with _mcp(server, token) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert {"list_chats", "get_chat", "list_assistants", "ask"} <= set(tools)
        # every tool declares what it returns, camelCase as on the wire
        untyped = [name for name, tool in tools.items() if not tool.output_schema]
        assert untyped == []
        answer_schema = tools["ask"].output_schema or {}
        assert {"chatId", "messageId", "answer", "citations"} <= set(answer_schema["properties"])
        asked = _json(await client.call_tool("ask", {"question": "Hello there"}))
        assert asked["answer"].startswith("The quick brown fox")
        listed = _json(await client.call_tool("list_chats", {}))
        assert [c["id"] for c in listed["chats"]] == [asked["chatId"]]
        chat = _json(await client.call_tool("get_chat", {"chat_id": asked["chatId"]}))
        assert [m["role"] for m in chat["messages"]] == ["user", "assistant"]
        assistants = _json(await client.call_tool("list_assistants", {}))
        assert assistants["assistants"] == []


async def test_a_second_user_cannot_see_the_first_users_chats_through_any_tool(
    server: str,
) -> None:
    admin_token, _ = _login_token(server, ADMIN)
    other_token = _member(server, admin_token, "other")
    async with _mcp(server, admin_token) as client:
        chat_id = _json(await client.call_tool("ask", {"question": "secret plans"}))["chatId"]
    async with _mcp(server, other_token) as client:
        assert _json(await client.call_tool("list_chats", {}))["chats"] == []
        assert _json(await client.call_tool("list_chats", {"query": "secret"}))["chats"] == []
        refused = await client.call_tool("get_chat", {"chat_id": chat_id})
        assert refused.is_error and "secret plans" not in str(refused.content)
        follow_up = await client.call_tool("ask", {"question": "more", "chat_id": chat_id})
        assert follow_up.is_error


async def test_absent_wrong_and_revoked_tokens_are_refused(server: str) -> None:
    token, token_id = _login_token(server, ADMIN)
    with httpx.Client(base_url=server, timeout=30) as http:
        absent = http.post("/mcp/", json=INITIALIZE, headers=MCP_HEADERS)
        wrong = http.post(
            "/mcp/", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer sb_nope"}
        )
        good = http.post(
            "/mcp/", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"}
        )
        revoked = http.delete(
            f"/api/api-tokens/{token_id}", headers={"Authorization": f"Bearer {token}"}
        )
        after = http.post(
            "/mcp/", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"}
        )
    assert absent.status_code == 401 and "resource_metadata" in absent.headers["www-authenticate"]
    assert wrong.status_code == 401
    assert good.status_code == 200 and good.headers.get("mcp-session-id")
    assert revoked.status_code == 204
    assert after.status_code == 401


async def test_a_foreign_origin_is_refused_and_metadata_names_the_resource(server: str) -> None:
    token, _ = _login_token(server, ADMIN)
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}", "Origin": "https://evil.example"}
    with httpx.Client(base_url=server, timeout=30) as http:
        foreign = http.post("/mcp/", json=INITIALIZE, headers=headers)
        metadata = http.get("/.well-known/oauth-protected-resource/mcp")
    assert foreign.status_code in {403, 421}
    assert metadata.status_code == 200 and metadata.json()["resource"].endswith("/mcp")


async def test_a_session_id_cannot_be_used_with_another_users_token(server: str) -> None:
    admin_token, _ = _login_token(server, ADMIN)
    other_token = _member(server, admin_token, "intruder")
    with httpx.Client(base_url=server, timeout=30) as http:
        opened = http.post(
            "/mcp/",
            json=INITIALIZE,
            headers={**MCP_HEADERS, "Authorization": f"Bearer {admin_token}"},
        )
        session_id = opened.headers["mcp-session-id"]
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        hijack = http.post(
            "/mcp/",
            json=listing,
            headers={
                **MCP_HEADERS,
                "Authorization": f"Bearer {other_token}",
                "Mcp-Session-Id": session_id,
                "Mcp-Protocol-Version": "2025-06-18",
            },
        )
    assert hijack.status_code in {401, 403, 404}


@pytest.fixture
def hashed_server(upstream: FakeUpstream, tmp_path: Path) -> Iterator[str]:
    with live_server(make_catalog(upstream.base_url), tmp_path, embedding_backend="hash") as url:
        yield url


def _indexed_file(base: str, token: str, name: str, text: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    files = {"files": (name, text.encode(), "text/markdown")}
    made = httpx.post(f"{base}/api/library/files", files=files, headers=headers, timeout=30)
    assert made.status_code == 201, made.text
    file_id = str(made.json()["_embedded"]["files"][0]["id"])

    def settled() -> dict[str, Any]:
        url = f"{base}/api/library/files/{file_id}"
        row: dict[str, Any] = httpx.get(url, headers=headers, timeout=30).json()
        assert row["status"] in {"indexed", "failed"}, "the file was not indexed in time"
        return row

    row = eventually_blocking(settled, seconds=20, interval=0.05)
    assert row["status"] == "indexed", row
    return file_id


async def test_knowledge_and_assistant_tools_act_as_the_caller(hashed_server: str) -> None:
    base = hashed_server
    token, _ = _login_token(base, ADMIN)
    file_id = _indexed_file(base, token, "zebra.md", "# Zebra\n\nThe ZX-4471 valve opens at dawn.")
    headers = {"Authorization": f"Bearer {token}"}
    body = {"name": "Helper", "instructions": "Be brief."}
    made = httpx.post(f"{base}/api/assistants", json=body, headers=headers, timeout=30)
    assert made.status_code == 201, made.text
    other = _member(base, token, "mallory")
    async with _mcp(base, token) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"search_knowledge", "list_library_files", "read_library_file"} <= names
        found = _json(await client.call_tool("search_knowledge", {"query": "ZX-4471 valve"}))
        assert found["passages"][0]["fileId"] == file_id
        files = _json(await client.call_tool("list_library_files", {}))
        assert [f["id"] for f in files["files"]] == [file_id]
        read = _json(await client.call_tool("read_library_file", {"file_id": file_id}))
        assert "ZX-4471" in read["text"]
        listed = _json(await client.call_tool("list_assistants", {}))
        assert [a["name"] for a in listed["assistants"]] == ["Helper"]
        asked = _json(
            await client.call_tool(
                "ask_assistant", {"assistant_id": made.json()["id"], "question": "Hi"}
            )
        )
        assert asked["answer"]
    async with _mcp(base, other) as client:
        assert (
            _json(await client.call_tool("search_knowledge", {"query": "ZX-4471"}))["passages"]
            == []
        )
        assert _json(await client.call_tool("list_library_files", {}))["files"] == []
        assert (await client.call_tool("read_library_file", {"file_id": file_id})).is_error
        assert _json(await client.call_tool("list_assistants", {}))["assistants"] == []
        refused = await client.call_tool(
            "ask_assistant", {"assistant_id": made.json()["id"], "question": "Hi"}
        )
        assert refused.is_error
