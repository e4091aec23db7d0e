"""Core tables: identity (users, teams, memberships, API tokens, login sessions) and the
providers, models and team model blocks admins manage at run time."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    update,
)
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from core import clock
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
    # how they last signed in: "password" or "oidc" (API token use is read from the tokens)
    last_login_method: Mapped[str | None] = mapped_column(String(20))
    # What their files may take (bytes; 0: no limit), set by an admin; None: the setting's.
    storage_limit_bytes: Mapped[int | None] = mapped_column(BigInteger)

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
    # where it was opened (`core.audit.origin`), for the owner's list of their sessions
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))


class LoginThrottle(Base):
    """Recent login attempts of one account, client address or known device, and until when the
    next attempt must wait (`core.login_throttle`)."""

    __tablename__ = "core_login_throttle"

    # "account:<username>", "address:<client address>" or "device:<login device id>"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    blocked_until: Mapped[datetime | None]


class LoginDevice(IdMixin, Base):
    """A browser that logged in to an account before; its cookie holds the secret, the row its
    hash. Its logins are throttled on their own, so others' failures cannot lock it out."""

    __tablename__ = "core_login_device"

    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class UserIdentity(IdMixin, Base):
    """An OpenID provider's account (its name in settings + the
    account's subject, `sub`) and the user it signs in as (`core.identities`)."""

    __tablename__ = "core_user_identity"
    __table_args__ = (
        UniqueConstraint("provider", "subject", name="uq_core_user_identity_subject"),
    )

    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_login_at: Mapped[datetime | None]


class Provider(IdMixin, TimestampMixin, Base):
    """An AI service provider an admin set up at run time; its credentials are sealed."""

    __tablename__ = "core_provider"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    api_base: Mapped[str | None] = mapped_column(String(2000))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sealed_credentials: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    updated_by: Mapped[str | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))


class StoredModel(IdMixin, TimestampMixin, Base):
    """A model an admin added at run time, served through a stored provider."""

    __tablename__ = "core_model"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    provider_id: Mapped[str] = mapped_column(
        ForeignKey("core_provider.id", ondelete="RESTRICT"), index=True
    )
    provider_model: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    input_micros_per_million: Mapped[int | None] = mapped_column(BigInteger)
    output_micros_per_million: Mapped[int | None] = mapped_column(BigInteger)
    context_window: Mapped[int | None] = mapped_column(Integer)
    max_output_tokens: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    updated_by: Mapped[str | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))


class TeamModelBlock(IdMixin, TimestampMixin, Base):
    """A model (file or stored, by name) that a team's members may not use."""

    __tablename__ = "core_team_model_block"
    __table_args__ = (UniqueConstraint("team_id", "model", name="uq_core_team_model_block_model"),)

    team_id: Mapped[str] = mapped_column(ForeignKey("core_team.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))


class CatalogVersion(Base):
    """One row whose number goes up on every change to providers, models or team blocks."""

    __tablename__ = "core_catalog_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class AuthEpoch(Base):
    """One row whose number goes up with every change to users, API tokens, teams or memberships
    (see `core.auth_epoch`): workers keep resolved tokens only while it stands still."""

    __tablename__ = "core_auth_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)


class ServingProcess(Base):
    """A process serving this database: where it runs, and when it last said it was alive."""

    __tablename__ = "core_process"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    seen_at: Mapped[datetime] = mapped_column(default=clock.now)


class Webhook(IdMixin, TimestampMixin, Base):
    """An admin's subscription: events POSTed to a URL, signed with its own (sealed) secret."""

    __tablename__ = "core_webhook"

    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret_sealed: Mapped[str] = mapped_column(Text)  # core.sealing, bound to the webhook id
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class WebhookDelivery(IdMixin, Base):
    """One signed POST to a webhook (a budget alert, a job's result), retried with backoff until
    it is delivered or runs out of attempts. In the database, so a restart carries on."""

    __tablename__ = "core_webhook_delivery"
    __table_args__ = (Index("ix_core_webhook_delivery_due", "state", "next_attempt_at"),)

    event: Mapped[str] = mapped_column(String(60))
    url: Mapped[str] = mapped_column(String(2000))
    # the subscription it is for (signed with its secret); None: a settings URL (webhook_secret)
    webhook_id: Mapped[str | None] = mapped_column(String(26), index=True)
    response_code: Mapped[int | None]  # the receiver's HTTP status on the last attempt
    body: Mapped[str] = mapped_column(Text)  # the exact JSON sent (and signed)
    # pending, then delivered or failed (no attempt left)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.now)
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    delivered_at: Mapped[datetime | None]


class AuditEvent(IdMixin, Base):
    """Something security-relevant that happened (`core.audit`): a sign-in, a token or grant made
    or revoked, a role, team or secret changed. No foreign keys: events outlive what they name."""

    __tablename__ = "core_audit_event"
    __table_args__ = (Index("ix_core_audit_event_subject", "subject_type", "subject_id"),)

    at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    kind: Mapped[str] = mapped_column(String(60), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(26), index=True)
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20), default="success")
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # A coalesced refusal (`core.audit_refusals`): how many it stands for, and the last one's time.
    count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    last_at: Mapped[datetime | None]


class AuditRepeat(Base):
    """A refusal key being coalesced (`core.audit_refusals`) until `until`: the audit event that
    further refusals with the key count on, or, for an address's row, how many keys it opened."""

    __tablename__ = "core_audit_repeat"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str | None] = mapped_column(String(26))
    until: Mapped[datetime] = mapped_column(index=True)
    keys_opened: Mapped[int] = mapped_column(Integer, default=0)


class TwoFactor(Base):
    """A user's TOTP authenticator (`core.two_factor`): the sealed secret, whether enrolment was
    confirmed, and the last time-step accepted (a code is good once)."""

    __tablename__ = "core_two_factor"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("core_user.id", ondelete="CASCADE"), primary_key=True
    )
    secret_sealed: Mapped[str] = mapped_column(Text)  # core.sealing, bound to the user id
    confirmed_at: Mapped[datetime | None]
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class RecoveryCode(IdMixin, Base):
    """A single-use recovery code for two-factor sign-in; only its hash is stored."""

    __tablename__ = "core_recovery_code"

    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


_EPOCH = cast(Table, AuthEpoch.__table__)
BUMP_AUTH_EPOCH = update(_EPOCH).where(_EPOCH.c.id == 1).values(epoch=_EPOCH.c.epoch + 1)
_watched: tuple[type[Base], ...] = (User, ApiToken, Team, TeamMembership)
# session.info key: the savepoint (or outermost transaction) whose work holds this session's bump.
_BUMPED = "core.auth_epoch.bumped_in"


def bump_epoch_on_change(*classes: type[Base]) -> None:
    """Have a change to any of `classes` move the identity epoch on too, as a change to a user, API
    token, team or membership does: for packages whose rows decide a caller's terms (`billing`)."""
    global _watched
    _watched = (*_watched, *classes)


def _holder(transaction: SessionTransaction) -> SessionTransaction:
    """The savepoint or outermost transaction that `transaction`'s work ends with."""
    while transaction.parent is not None and not transaction.nested:
        transaction = transaction.parent
    return transaction


@event.listens_for(Session, "after_flush")
def _bump_auth_epoch(session: Session, _context: Any) -> None:
    """Move the identity epoch on (once per transaction, in it) when a flush changed a watched row
    (a user, API token, team, membership, or what `bump_epoch_on_change` added): every worker's
    token cache and kept terms then miss (`core.auth_epoch`)."""
    if _BUMPED in session.info:
        return
    if any(isinstance(o, _watched) for o in (*session.new, *session.dirty, *session.deleted)):
        session.connection().execute(BUMP_AUTH_EPOCH)
        session.info[_BUMPED] = session.get_nested_transaction() or session.get_transaction()


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back_bump(session: Session) -> None:
    """A savepoint or transaction rolled back takes its bump with it: the next change bumps."""
    rolled_back = session.get_nested_transaction() or session.get_transaction()
    if session.info.get(_BUMPED) is rolled_back:
        del session.info[_BUMPED]


@event.listens_for(Session, "after_transaction_end")
def _hand_bump_up(session: Session, transaction: SessionTransaction) -> None:
    """A savepoint released hands its bump to the transaction around it; the outermost one's end
    forgets it."""
    if session.info.get(_BUMPED) is not transaction:
        return
    if transaction.parent is None:
        del session.info[_BUMPED]
    else:
        session.info[_BUMPED] = _holder(transaction.parent)
