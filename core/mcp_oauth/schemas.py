"""Read shapes of MCP clients' OAuth for the JSON API (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from core.schemas import Schema


class McpClientRead(Schema):
    """A registered MCP client, as admins see it."""

    id: str
    name: str
    client_uri: str | None
    redirect_uris: list[str]
    status: Literal["active", "pending"]
    created_at: datetime


class McpConnectionRead(Schema):
    """One of your connected MCP clients: a grant you gave it, live until revoked."""

    id: str
    client_id: str
    client_name: str
    scopes: list[str]
    resource: str
    created_at: datetime
    last_used_at: datetime | None


class ConsentUser(Schema):
    """Who would be allowing the client."""

    id: str
    username: str
    display_name: str


class McpAuthorizationRead(Schema):
    """An MCP client's request to act as you, waiting for you to allow or deny it."""

    id: str
    client_id: str
    client_name: str
    client_uri: str | None
    redirect_uri: str
    scopes: list[str]
    resource: str
    user: ConsentUser
    expires_at: datetime


class ConsentDecided(Schema):
    """Where to send the browser now: back to the MCP client, with a code or an error."""

    redirect_to: str
