"""Create/Update/Read shapes of toolkits, their tools and connections."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue, model_validator

from core.schemas import Schema

ToolkitKind = Literal["builtin", "mcp_http", "mcp_stdio", "custom"]
ToolType = Literal["builtin", "mcp", "api-request"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
ConnectionState = Literal["connected", "needs_sign_in", "failed", "unknown", "unavailable"]


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
    """A new external toolkit: an MCP server by URL (Streamable HTTP), for admins a command, or a
    `custom` set of HTTP tools (its optional `url` is the base of their relative URLs)."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    kind: Literal["mcp_http", "mcp_stdio", "custom"] = "mcp_http"
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
    type: ToolType = "mcp"


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


Template = Annotated[str, Field(max_length=2000)]


class RequestConfig(Schema):
    """A custom tool's HTTP request; `{name}` placeholders take the call's arguments (see
    toolkits/request_templates.py). `url` is absolute, or a path under the toolkit's url."""

    method: HttpMethod = "GET"
    url: str = Field(min_length=1, max_length=2000)
    headers: dict[str, HeaderValue] = Field(default_factory=dict, max_length=50)
    query: dict[str, Template] = Field(default_factory=dict, max_length=100)
    body: JsonValue = None


class CustomToolCreate(Schema):
    """A custom HTTP tool (Informer's `api-request`): what the model sees and the request made."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str = Field(default="", max_length=4000)
    type: Literal["api-request"] = "api-request"
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    config: RequestConfig
    side_effects: bool | None = None


class CustomToolUpdate(Schema):
    """Changes to a custom tool; `config`, when given, replaces the whole request."""

    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = Field(default=None, max_length=4000)
    parameters: dict[str, Any] | None = None
    config: RequestConfig | None = None
    side_effects: bool | None = None


class CustomToolsReplace(Schema):
    """The body of PUT /api/toolkits/{id}/tools: the toolkit's whole new tool list."""

    tools: list[CustomToolCreate] = Field(max_length=200)
    discovered_by: Literal["client", "server"] = "client"


class RequestConfigRead(Schema):
    """A custom tool's request as shown: secret names and that a header value is stored, never
    a value."""

    method: HttpMethod
    url: str
    headers: dict[str, HeaderRead] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    body: JsonValue = None


class CustomToolRead(ToolRead):
    """One tool with what it takes (`parameters`, as `inputSchema`) and, for a custom tool, its
    request: the body POST or PUT take, read back."""

    parameters: dict[str, Any]
    config: RequestConfigRead | None = None
    discovered_by: str | None = None


class OpenApiImport(Schema):
    """The body of POST /api/toolkits/_import-openapi: an OpenAPI 3 `document` (an object, or
    JSON or YAML text) or the `url` to fetch it from; optional name, base URL and headers."""

    document: dict[str, Any] | Annotated[str, Field(max_length=2_000_000)] | None = None
    url: str | None = Field(default=None, max_length=2000)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    base_url: str | None = Field(default=None, max_length=2000)
    headers: dict[str, HeaderValue] = Field(default_factory=dict, max_length=50)
    shared: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> OpenApiImport:
        if (self.document is None) == (self.url is None):
            raise ValueError("give exactly one of document or url")
        return self
