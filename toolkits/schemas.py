"""Create/Update/Read shapes of toolkits, their tools and connections."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from core.schemas import Schema

ToolkitKind = Literal["builtin", "mcp_http", "mcp_stdio"]
ConnectionState = Literal["connected", "needs_sign_in", "failed", "unknown"]


class HeaderValue(Schema):
    """A header's value: a plain value (stored encrypted) or the name of an assistant secret."""

    value: str | None = Field(default=None, max_length=8000)
    secret: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_source(self) -> HeaderValue:
        if (self.value is None) == (self.secret is None):
            raise ValueError("give exactly one of value or secret")
        return self


class ToolkitCreate(Schema):
    """A new external toolkit: an MCP server by URL (Streamable HTTP) or, for admins, a command."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    kind: Literal["mcp_http", "mcp_stdio"] = "mcp_http"
    url: str | None = Field(default=None, max_length=2000)
    headers: dict[str, HeaderValue] = Field(default_factory=dict, max_length=50)
    command: list[str] | None = Field(default=None, min_length=1, max_length=100)
    shared: bool = False


class ToolkitUpdate(Schema):
    """Changes to a toolkit; `headers`, when given, replaces all of them."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    url: str | None = Field(default=None, max_length=2000)
    headers: dict[str, HeaderValue] | None = Field(default=None, max_length=50)
    command: list[str] | None = Field(default=None, min_length=1, max_length=100)
    shared: bool | None = None


class HeaderRead(Schema):
    """A header as shown: the secret's name, or only that an encrypted value is stored."""

    secret: str | None = None
    encrypted: bool = False


class ConnectionRead(Schema):
    """The caller's connection to a toolkit."""

    state: ConnectionState
    reason: str | None = None
    checked_at: datetime | None = None
    authorization_url: str | None = None


class ToolkitRead(Schema):
    """A toolkit."""

    id: str
    name: str
    description: str
    kind: ToolkitKind
    url: str | None = None
    headers: dict[str, HeaderRead] = Field(default_factory=dict)
    command: list[str] | None = None
    shared: bool = False
    owner_id: str | None = None
    editable: bool = False
    refreshed_at: datetime | None = None
    connection: ConnectionRead


class ToolRead(Schema):
    """A tool of a toolkit, with its JSON schema and whether it may run."""

    name: str
    function_name: str
    toolkit_id: str
    toolkit_name: str
    description: str
    input_schema: dict[str, Any]
    side_effects: bool
    enabled: bool
    approval: Literal["approved", "changed"]


class ApproveRequest(Schema):
    """Approve a tool's current definition; optionally say whether it has side effects."""

    side_effects: bool | None = None


class ConnectRequest(Schema):
    """Options of `_refresh` and `_test`: the assistant whose secrets fill secret headers."""

    assistant_id: str | None = Field(default=None, min_length=1, max_length=100)


class ToolkitConfigParse(Schema):
    """The body of POST /api/toolkit-parse-config: an `mcpServers` object (or one server's), a
    command line, or a URL, as pasted."""

    config: dict[str, Any] | str


class DraftSecret(Schema):
    """A header or environment variable of a draft whose value looks like a credential."""

    where: Literal["header", "env"]
    name: str


class ToolkitDraft(Schema):
    """A toolkit read from a pasted config: `config` is a body POST /api/toolkits accepts."""

    type: Literal["mcp-stdio", "mcp-remote"]
    config: ToolkitCreate
    transport: Literal["stdio", "sse", "streamable-http"] = "stdio"
    env: dict[str, str] = Field(default_factory=dict)
    secrets: list[DraftSecret] = Field(default_factory=list)
    needs_admin: bool = False
    notes: list[str] = Field(default_factory=list)
