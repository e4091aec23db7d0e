"""Tables of MCP clients' OAuth: registered clients, authorization requests (and their codes),
grants (a user's connected client) and the grants' hashed tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.database import Base, IdMixin, TimestampMixin


class OAuthClient(IdMixin, TimestampMixin, Base):
    """An MCP client registered by RFC 7591 dynamic registration; its id is the `client_id`.
    Public clients only (no secret): PKCE proves who redeems a code."""

    __tablename__ = "core_oauth_client"

    name: Mapped[str] = mapped_column(String(200))
    client_uri: Mapped[str | None] = mapped_column(String(2000))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    # active: may ask users for consent; pending: waits for an admin's approval
    status: Mapped[str] = mapped_column(String(20), default="active")
    approved_by: Mapped[str | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))


class OAuthAuthorization(IdMixin, Base):
    """One /authorize request waiting for the user's consent, then the code it produced."""

    __tablename__ = "core_oauth_authorization"

    client_id: Mapped[str] = mapped_column(
        ForeignKey("core_oauth_client.id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(String(200))
    resource: Mapped[str] = mapped_column(String(2000))
    state: Mapped[str | None] = mapped_column(String(1000))
    code_challenge: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    # set when the user decides: who, and (when allowed) the code's hash and expiry
    user_id: Mapped[str | None] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    decided_at: Mapped[datetime | None]
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    code_expires_at: Mapped[datetime | None]
    # set when the code is redeemed, with the grant it made (revoked if the code comes again)
    used_at: Mapped[datetime | None]
    grant_id: Mapped[str | None] = mapped_column(String(26))


class OAuthGrant(IdMixin, TimestampMixin, Base):
    """A user's consent to one MCP client: the connection its tokens belong to."""

    __tablename__ = "core_oauth_grant"

    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("core_oauth_client.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(String(200))
    resource: Mapped[str] = mapped_column(String(2000))
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class OAuthToken(IdMixin, Base):
    """An access or refresh token of a grant; only its hash is stored. A refresh token is used
    once (`used_at`): presented again, it revokes its grant."""

    __tablename__ = "core_oauth_token"

    grant_id: Mapped[str] = mapped_column(
        ForeignKey("core_oauth_grant.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))  # access | refresh
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
