"""`switchboard serve --port N` names its own address in the URLs it hands out."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.served import serve

pytestmark = pytest.mark.anyio
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}
SPOOFED = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}


async def test_mcp_names_the_port_served_on_and_ignores_forwarded_headers_from_clients(
    fake_upstream_server: FakeUpstream, tmp_path: Path
) -> None:
    with serve(tmp_path, fake_upstream_server.base_url) as served:
        port = served.url.rsplit(":", 1)[1]
        assert port != "8000"
        metadata_url = f"{served.url}/.well-known/oauth-protected-resource/mcp"
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            plain = await client.post("/mcp/", json=INITIALIZE, headers=MCP_HEADERS)
            spoofed = await client.post(
                "/mcp/", json=INITIALIZE, headers={**MCP_HEADERS, **SPOOFED}
            )
            metadata = await client.get(metadata_url, headers=SPOOFED)
    for refused in (plain, spoofed):
        assert refused.status_code == 401
        assert f'resource_metadata="{metadata_url}"' in refused.headers["www-authenticate"]
    assert metadata.json()["resource"] == f"{served.url}/mcp"
    assert metadata.json()["authorization_servers"] == [served.url]
