"""Response models of the bodies routes shape by hand (HAL resources of a schema use
`api.hal.resource_of`; collections `api.hal.collection_of`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, create_model

from api.hal import Link, Wire, collection_of, resource_of, wire_of
from assistant.schemas import (
    AssistantExport,
    AssistantRead,
    ChatRead,
    ChatShareRead,
    KnowledgeExport,
    MessageRead,
)
from billing.schemas import SeatRead, UsageRowRead
from core.schemas import ApiTokenRead, UserRead
from toolkits.schemas import ToolRead

UserResource = resource_of(UserRead)

ApiTokenIssued = create_model(
    "ApiTokenIssued",
    __base__=resource_of(ApiTokenRead),
    __doc__="A new token and its secret.",
    token=(str, ...),
)

AUTHENTICATED_BY: Any = Literal["apiToken", "session"]
Me = create_model(
    "Me",
    __base__=UserResource,
    __doc__="The caller, their teams, how they authenticated and their seat.",
    team_ids=(list[str], ...),
    authenticated_by=(AUTHENTICATED_BY, ...),
    seat=(SeatRead | None, ...),
)


class LoggedIn(Wire):
    """A session opened: the user and the CSRF token to send with state-changing requests."""

    user: UserResource  # type: ignore[valid-type]
    csrf_token: str | None
    # only when this sign-in finished enrolling two-factor: shown this once
    recovery_codes: list[str] | None = None


class Status(Wire):
    """A health answer."""

    status: str


class TeamModel(Wire):
    """A catalog model's state for one team."""

    team_id: str
    model_id: str
    enabled: bool
    source: str
    links: dict[str, Link] = Field(alias="_links")


ChatResource = resource_of(ChatRead)
MessageResource = resource_of(MessageRead)

ChatFound = create_model(
    "ChatFound",
    __base__=ChatResource,
    __doc__="A chat in a list; with `q`, the best match's snippet and message.",
    snippet=(str | None, None),
    matched_message_id=(str | None, None),
)

ShareIssued = create_model(
    "ShareIssued",
    __base__=resource_of(ChatShareRead),
    __doc__="A new share link with its token and addresses, shown this once.",
    token=(str, ...),
    url=(str, ...),
    api_url=(str, ...),
)


class ToolDecision(Wire):
    """A decision on a tool call, as recorded."""

    call_id: str
    approve: bool


class SharedMessage(Wire):
    """A message of a shared chat as it was when shared, with its HTML."""

    role: str | None = None
    content: str | None = None
    model: str | None = None
    status: str | None = None
    created_at: str | None = None
    content_html: str


class SharedChat(Wire):
    """A shared chat, read-only."""

    title: str | None = None
    model: str | None = None
    messages: list[SharedMessage]
    shared_at: str
    links: dict[str, Link] = Field(alias="_links")


class ModelCapabilities(Wire):
    """What a model does: model_info's `supports_*` flags, else LiteLLM's model map."""

    chat: bool
    embeddings: bool
    vision: bool
    tools: bool
    reasoning: bool
    prompt_caching: bool
    pdf_input: bool


class ModelInfo(Wire):
    """A model of the catalog; stored models add their provider and audit fields, admins see
    `disabledTeams`."""

    id: str
    name: str
    description: str | None
    source: str
    enabled: bool
    aliases: list[str]
    providers: list[str]
    mode: str = "chat"  # LiteLLM's word for what it does: `chat`, `embedding`, ...
    deployments: int
    available: bool
    unavailable_reason: str | None
    is_default: bool
    max_input_tokens: int | None
    max_output_tokens: int | None
    input_cost_per_million_tokens: float | None
    output_cost_per_million_tokens: float | None
    capabilities: ModelCapabilities
    chat: bool = Field(description="Informer's name: a chat model.")
    attachments: bool = Field(description="Informer's name: it sees images (vision).")
    create_embeddings: bool = Field(description="Informer's name: an embedding model.")
    prompt_ppm: float | None = Field(description="USD per million prompt tokens.")
    completion_ppm: float | None = Field(description="USD per million completion tokens.")
    cache_read_ppm: float | None = Field(description="USD per million prompt-cache reads.")
    cache_write_ppm: float | None = Field(description="USD per million prompt-cache writes.")
    provider_id: str | None = None
    model: str | None = None
    context_window: int | None = None
    created_by: str | None = None
    updated_by: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    disabled_teams: list[str] | None = None
    links: dict[str, Link] = Field(alias="_links")


class ExportedMessage(Wire):
    """A message of a chat export, with its usage and cost."""

    id: str
    parent_id: str | None
    role: str
    content: str
    model: str | None
    status: str
    created_at: str
    prompt_tokens: int
    completion_tokens: int
    cost_micros: int


class ChatExport(Wire):
    """A chat's active branch as JSON (`format=json`)."""

    format: str
    id: str
    title: str
    model: str | None
    tags: list[str]
    created_at: str
    updated_at: str
    exported_at: str
    messages: list[ExportedMessage]


def _inline_schema(model: type[Wire]) -> dict[str, Any]:
    """A model's JSON schema with its nested models written in place (for a body declared by
    media type, where FastAPI registers no component)."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})
    text = json.dumps(schema)
    for name, nested in defs.items():
        text = text.replace(json.dumps({"$ref": f"#/$defs/{name}"}), json.dumps(nested))
    inlined: dict[str, Any] = json.loads(text)
    return inlined


# FastAPI lists the route's own JSON first; Markdown (the default, format=markdown) follows.
JSON_OR_MARKDOWN: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/markdown": {"schema": {"type": "string"}},
            "application/json": {"schema": _inline_schema(ChatExport)},
        }
    }
}
EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


AssistantResource = resource_of(AssistantRead)
AssistantImported = create_model(
    "AssistantImported",
    __base__=AssistantResource,
    __doc__="An imported assistant and the knowledge of the export you may not see.",
    skipped_knowledge=(wire_of(KnowledgeExport, "SkippedKnowledge"), ...),
)
AssistantExported = wire_of(AssistantExport, "AssistantExported")
ZIP: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}
}
UsageReport = create_model(
    "UsageReport",
    __base__=collection_of("usage", wire_of(UsageRowRead, "UsageRow")),
    __doc__="Usage rows, grouped by `groupBy`.",
    group_by=(list[str], ...),
)


class ProviderInfo(Wire):
    """A provider: stored (`source: "database"`) or behind models.yaml (`source: "file"`, with
    whether it is `configured` and its `missingSettings`). `apiBase` is shown to admins only."""

    id: str
    name: str
    type: str
    source: str
    models: list[str]
    api_base: str | None = None
    api_version: str | None = None
    has_api_key: bool | None = None
    created_by: str | None = None
    updated_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    configured: bool | None = None
    missing_settings: list[str] | None = None
    links: dict[str, Link] = Field(alias="_links")


class ProviderCheck(Wire):
    """The outcome of one cheap call through a provider."""

    ok: bool
    reason: str | None
    provider_id: str
    model: str
    latency_ms: int


class ConnectionOutcome(Wire):
    """Your connection to a toolkit after connecting, testing or refreshing it."""

    state: str
    reason: str | None
    authorization_url: str | None = None
    tool_count: int | None = None


ToolsRefreshed = create_model(
    "ToolsRefreshed",
    __base__=collection_of("tools", ToolRead),
    __doc__="A toolkit's tools as stored, with your connection's outcome.",
    connection=(ConnectionOutcome | None, None),
)
BINARY: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file as uploaded, with its media type.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
METRICS_TEXT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text format.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


class SignInProvider(Wire):
    """An OpenID provider people may sign in with: its name, its button's label, and the URL
    that starts signing in with it."""

    name: str
    display_name: str
    login_url: str


class SignInOptions(Wire):
    """How people may sign in: with a password (off: only break-glass admins may), and with
    which OpenID providers."""

    password_login: bool
    providers: list[SignInProvider]
