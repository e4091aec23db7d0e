"""Billing tables: seats, budgets and their counters, reservations, the ledger, profiles, limits.

Money is integer micro-dollars throughout; datetimes are UTC with their time zone.
"""

from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from core import clock
from core.database import Base, IdMixin, TimestampMixin
from core.models import bump_epoch_on_change


class Subscription(IdMixin, TimestampMixin, Base):
    """A team's AI subscription: how many seats it has and how many are assigned."""

    __tablename__ = "billing_subscription"

    team_id: Mapped[str] = mapped_column(
        ForeignKey("core_team.id", ondelete="CASCADE"), unique=True
    )
    seats: Mapped[int] = mapped_column(Integer, default=0)
    seats_used: Mapped[int] = mapped_column(Integer, default=0)
    plan_name: Mapped[str | None] = mapped_column(String(200))
    renews_at: Mapped[datetime | None]


class Seat(IdMixin, TimestampMixin, Base):
    """A seat of a team's subscription assigned to one of its members."""

    __tablename__ = "billing_seat"
    __table_args__ = (UniqueConstraint("team_id", "user_id", name="uq_billing_seat_holder"),)

    team_id: Mapped[str] = mapped_column(ForeignKey("core_team.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)


class Budget(IdMixin, TimestampMixin, Base):
    """A usage budget over a scope and a calendar period, in money and/or tokens."""

    __tablename__ = "billing_budget"
    __table_args__ = (Index("ix_billing_budget_scope", "scope", "scope_id"),)

    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(20))
    scope_id: Mapped[str | None] = mapped_column(String(26))
    limit_micros: Mapped[int | None] = mapped_column(BigInteger)
    limit_tokens: Mapped[int | None] = mapped_column(BigInteger)
    period: Mapped[str] = mapped_column(String(10))
    hard: Mapped[bool] = mapped_column(Boolean, default=True)
    thresholds: Mapped[list[float]] = mapped_column(JSON, default=list)
    profile_id: Mapped[str | None] = mapped_column(
        ForeignKey("billing_usage_profile.id", ondelete="CASCADE"), index=True
    )


class BudgetCounter(IdMixin, Base):
    """What one budget has spent and holds reserved in one period."""

    __tablename__ = "billing_budget_counter"
    __table_args__ = (
        UniqueConstraint("budget_id", "period_start", name="uq_billing_budget_counter_period"),
    )

    budget_id: Mapped[str] = mapped_column(ForeignKey("billing_budget.id", ondelete="CASCADE"))
    period_start: Mapped[datetime]
    spent_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    spent_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_tokens: Mapped[int] = mapped_column(BigInteger, default=0)


# A reservation still holding its worst case. Inlined, never a bound parameter, in the queries
# that use the partial indexes below: only a literal lets the planner (SQLite's, and
# PostgreSQL's for a prepared statement's generic plan) match their predicate.
OPEN: ColumnElement[str] = literal_column("'open'", String)
_OPEN_ONLY = text("state = 'open'")


class Reservation(IdMixin, Base):
    """The worst case of an admitted request, held against its budgets until it is settled."""

    __tablename__ = "billing_reservation"
    # Every query of reservations but by id asks for open ones (the lease sweep, a dead
    # process's release, the open list), so these indexes hold only open rows: a settlement's
    # new row version (state no longer open) goes into the primary key alone, not three more
    # indexes, and the indexes stay as small as the calls in flight (billing_0003).
    __table_args__ = (
        Index(
            "ix_billing_reservation_open_lease",
            "lease_expires_at",
            postgresql_where=_OPEN_ONLY,
            sqlite_where=_OPEN_ONLY,
        ),
        Index(
            "ix_billing_reservation_open_user",
            "user_id",
            postgresql_where=_OPEN_ONLY,
            sqlite_where=_OPEN_ONLY,
        ),
        Index(
            "ix_billing_reservation_open_process",
            "process_id",
            postgresql_where=_OPEN_ONLY,
            sqlite_where=_OPEN_ONLY,
        ),
    )

    user_id: Mapped[str] = mapped_column(String(26))
    team_id: Mapped[str | None] = mapped_column(String(26))
    api_token_id: Mapped[str | None] = mapped_column(String(26))
    assistant_id: Mapped[str | None] = mapped_column(String(26))
    model: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(40))
    input_price: Mapped[float | None] = mapped_column(Float)
    output_price: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    max_output_tokens: Mapped[int] = mapped_column(Integer)
    reserved_micros: Mapped[int] = mapped_column(BigInteger)
    reserved_tokens: Mapped[int] = mapped_column(BigInteger)
    counter_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    delivered_tokens: Mapped[int] = mapped_column(Integer, default=0)
    lease_seconds: Mapped[int] = mapped_column(Integer)
    lease_expires_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    settled_at: Mapped[datetime | None]
    # The process making the call (`core.processes`): if it dies, the hold is released at once.
    process_id: Mapped[str | None] = mapped_column(String(26))


class LedgerEntry(IdMixin, Base):
    """The one terminal record of an admitted request: what it used and what it cost."""

    __tablename__ = "billing_ledger_entry"
    __table_args__ = (Index("ix_billing_ledger_entry_user_created", "user_id", "created_at"),)

    reservation_id: Mapped[str] = mapped_column(String(26), unique=True)
    outcome: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(200), index=True)
    user_id: Mapped[str] = mapped_column(String(26))
    team_id: Mapped[str | None] = mapped_column(String(26), index=True)
    api_token_id: Mapped[str | None] = mapped_column(String(26))
    assistant_id: Mapped[str | None] = mapped_column(String(26))
    source: Mapped[str] = mapped_column(String(40))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cost_micros: Mapped[int] = mapped_column(BigInteger)
    reserved_micros: Mapped[int] = mapped_column(BigInteger)
    estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    admitted_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)

    @property
    def total_tokens(self) -> int:
        """Prompt and completion tokens together."""
        return self.prompt_tokens + self.completion_tokens


class UsageProfile(IdMixin, TimestampMixin, Base):
    """Which models a team or user may use, and a monthly spending cap."""

    __tablename__ = "billing_usage_profile"
    __table_args__ = (UniqueConstraint("scope", "scope_id", name="uq_billing_usage_profile_scope"),)

    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(20))
    scope_id: Mapped[str] = mapped_column(String(26))
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON)
    monthly_cap_micros: Mapped[int | None] = mapped_column(BigInteger)


class RateLimitOverride(IdMixin, TimestampMixin, Base):
    """Requests and tokens per minute for a team, user or API token instead of the defaults."""

    __tablename__ = "billing_rate_limit_override"
    __table_args__ = (
        UniqueConstraint("scope", "scope_id", name="uq_billing_rate_limit_override_scope"),
    )

    scope: Mapped[str] = mapped_column(String(20))
    scope_id: Mapped[str] = mapped_column(String(26))
    requests_per_minute: Mapped[int | None] = mapped_column(Integer)
    tokens_per_minute: Mapped[int | None] = mapped_column(BigInteger)


class RateBucket(Base):
    """One row per rate-limited key, locked while its window is counted."""

    __tablename__ = "billing_rate_bucket"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)


class RateEvent(IdMixin, Base):
    """An admitted request in a key's sliding one-minute window."""

    __tablename__ = "billing_rate_event"
    __table_args__ = (Index("ix_billing_rate_event_key_at", "key", "at"),)

    key: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime]
    tokens: Mapped[int] = mapped_column(BigInteger)
    reservation_id: Mapped[str] = mapped_column(String(26), index=True)


class UsageAlert(IdMixin, Base):
    """A budget crossed one of its thresholds in a period (stored once, sent to a webhook)."""

    __tablename__ = "billing_usage_alert"
    __table_args__ = (
        UniqueConstraint(
            "budget_id", "period_start", "threshold", name="uq_billing_usage_alert_crossing"
        ),
    )

    budget_id: Mapped[str] = mapped_column(ForeignKey("billing_budget.id", ondelete="CASCADE"))
    budget_name: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[datetime]
    threshold: Mapped[float] = mapped_column(Float)
    spent_micros: Mapped[int] = mapped_column(BigInteger)
    spent_tokens: Mapped[int] = mapped_column(BigInteger)
    limit_micros: Mapped[int | None] = mapped_column(BigInteger)
    limit_tokens: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    claimed_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)


@functools.cache
def insert_ignoring_duplicates(dialect: str, table: type[Base]) -> Insert:
    """An INSERT that skips rows whose unique key already exists (SQLite and PostgreSQL).

    Execute it with a list of rows; one statement per table and dialect, built once.
    """
    target = table.__table__
    assert isinstance(target, Table)
    if dialect == "postgresql":
        return postgresql.insert(target).on_conflict_do_nothing()
    return sqlite.insert(target).on_conflict_do_nothing()


# A change to who holds a seat or to the terms of their calls moves the identity epoch on, in the
# same transaction, as identity changes do: every worker's kept terms then miss (`billing.terms`).
bump_epoch_on_change(Seat, Budget, UsageProfile, RateLimitOverride)
