"""Identity tables: users, teams, memberships, API tokens and login sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    """A person (or service account) who logs in."""

    __tablename__ = "core_user"

    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="member")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None]

    @property
    def is_admin(self) -> bool:
        """Whether the user administers the instance."""
        return self.role == "admin"


class Team(IdMixin, TimestampMixin, Base):
    """A group of users that shares assistants, files, seats and budgets."""

    __tablename__ = "core_team"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(String(2000), default="")


class TeamMembership(IdMixin, TimestampMixin, Base):
    """A user's membership of a team, with a role in it."""

    __tablename__ = "core_team_membership"
    __table_args__ = (
        UniqueConstraint("team_id", "user_id", name="uq_core_team_membership_member"),
    )

    team_id: Mapped[str] = mapped_column(ForeignKey("core_team.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20), default="member")


class ApiToken(IdMixin, TimestampMixin, Base):
    """A Bearer token a user made for programs; only its hash is stored."""

    __tablename__ = "core_api_token"

    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class LoginSession(IdMixin, TimestampMixin, Base):
    """A browser session made by logging in; the cookie holds the secret, the row its hash."""

    __tablename__ = "core_login_session"

    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
