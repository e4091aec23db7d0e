"""A small MCP server over stdio for the pool tests: it tells its process id."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server: MCPServer = MCPServer(name="pid-server")


@server.tool()
def pid() -> str:
    """The id of this server's process."""
    return str(os.getpid())


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return f"echo: {text}"


if __name__ == "__main__":
    server.run("stdio")
