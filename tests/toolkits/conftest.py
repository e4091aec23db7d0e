"""Toolkit fixtures shared by the test modules here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.toolkits.servers import build_tool_server, mcp_app, serve


@pytest.fixture
def tool_server() -> Iterator[tuple[Any, int]]:
    """The loopback MCP tool server over Streamable HTTP, and its port."""
    server = build_tool_server()
    with serve(mcp_app(server)) as port:
        yield server, port
