"""Toolkit tables: toolkits, their discovered tools, and each user's connection to a toolkit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, IdMixin, TimestampMixin


class Toolkit(IdMixin, TimestampMixin, Base):
    """An external MCP server (or, `custom`, a set of HTTP tools) as a named set of tools, owned by
    a user and optionally shared."""

    __tablename__ = "toolkits_toolkit"

    owner_id: Mapped[str] = mapped_column(
        ForeignKey("core_user.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    kind: Mapped[str] = mapped_column(String(20))
    url: Mapped[str | None] = mapped_column(String(2000))
    # Header name -> {"secret": "<assistant secret name>"} or {"sealed": "<AES-GCM value>"}.
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    command: Mapped[list[str] | None] = mapped_column(JSON)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    refreshed_at: Mapped[datetime | None]


class ToolkitTool(IdMixin, TimestampMixin, Base):
    """A tool discovered on a toolkit: its definition, the hash an editor approved, side effects."""

    __tablename__ = "toolkits_tool"
    __table_args__ = (UniqueConstraint("toolkit_id", "name"),)

    toolkit_id: Mapped[str] = mapped_column(
        ForeignKey("toolkits_toolkit.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    input_schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    definition_hash: Mapped[str] = mapped_column(String(64))
    approved_hash: Mapped[str | None] = mapped_column(String(64))
    side_effects: Mapped[bool] = mapped_column(Boolean, default=True)
    present: Mapped[bool] = mapped_column(Boolean, default=True)
    # A custom toolkit's HTTP request (toolkits/request_templates.py); None for an MCP tool.
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    discovered_by: Mapped[str | None] = mapped_column(String(20))


class ToolkitConnection(IdMixin, TimestampMixin, Base):
    """One user's connection to a toolkit: connected, needs_sign_in or failed, and why."""

    __tablename__ = "toolkits_connection"
    __table_args__ = (UniqueConstraint("toolkit_id", "user_id"),)

    toolkit_id: Mapped[str] = mapped_column(
        ForeignKey("toolkits_toolkit.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(2000))
    checked_at: Mapped[datetime]


class ToolkitGrant(IdMixin, TimestampMixin, Base):
    """One user's OAuth sign-in to a toolkit's server: client registration and tokens, sealed."""

    __tablename__ = "toolkits_grant"
    __table_args__ = (UniqueConstraint("toolkit_id", "user_id"),)

    toolkit_id: Mapped[str] = mapped_column(
        ForeignKey("toolkits_toolkit.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    # AES-GCM sealed JSON of the mcp package's OAuthClientInformationFull and OAuthToken.
    client_info: Mapped[str | None] = mapped_column(Text)
    tokens: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None]


class ToolkitSignIn(IdMixin, TimestampMixin, Base):
    """A sign-in a user started: bound to them and the toolkit by its state, used once, expiring."""

    __tablename__ = "toolkits_sign_in"

    toolkit_id: Mapped[str] = mapped_column(
        ForeignKey("toolkits_toolkit.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    authorization_url: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # What the callback brought: the sealed authorization code, or the server's error.
    code: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(500))
