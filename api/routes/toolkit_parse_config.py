"""Reading a pasted MCP server config into toolkit drafts (nothing is created or run)."""

from __future__ import annotations

from api.deps import CurrentUser
from api.hal import Collection, api_router, collection_of, whole, wire_of
from toolkits import pasted_config
from toolkits.schemas import ToolkitConfigParse, ToolkitDraft

router = api_router(tags=["Toolkits"])


@router.post(
    "/api/toolkit-parse-config", response_model=collection_of("drafts", wire_of(ToolkitDraft))
)
async def parse_toolkit_config(
    body: ToolkitConfigParse, user: CurrentUser
) -> Collection[ToolkitDraft]:
    """Read a pasted MCP server config into toolkit drafts: a Claude Desktop / Cursor
    `mcpServers` object (one or many servers, or one server's bare object), a command line
    (`FOO=bar npx -y @modelcontextprotocol/server-filesystem /tmp`) or an http(s) URL.

    Each draft has `type` (`mcp-stdio` or `mcp-remote`) and `config`, a body POST /api/toolkits
    accepts as it is. Headers and environment variables whose names look like credentials are
    kept and listed in `secrets`, so they can be moved to assistant secrets. A command-line
    draft for someone who is not an admin says `needsAdmin`: creating it needs an admin. Nothing
    is created or run. A config that cannot be read answers 422 `config_not_understood`, its
    message naming the part not understood."""
    drafts = pasted_config.parse(body.config, admin=user.is_admin)
    return whole("drafts", "/api/toolkit-parse-config", drafts)
