"""Create/Update/Read shapes of billing objects, camelCase on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from billing.periods import Period

BudgetScope = Literal["user", "team", "apiToken", "assistant", "global"]
ProfileScope = Literal["user", "team"]
OverrideScope = Literal["user", "team", "apiToken"]
Outcome = Literal["completed", "cancelled", "failed", "interrupted"]
GroupBy = Literal["user", "team", "model", "day", "month", "assistant", "apiToken", "source"]
# Upper bounds that fit the database columns (BIGINT, INTEGER for requests per minute).
MAX_AMOUNT = 10**15
MAX_REQUESTS_PER_MINUTE = 1_000_000_000


class Schema(BaseModel):
    """Base of every billing shape: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", from_attributes=True
    )


class SubscriptionUpdate(Schema):
    """The body of PUT /api/teams/{id}/ai-subscription."""

    seats: int = Field(ge=0, le=1_000_000)
    plan_name: str | None = Field(default=None, max_length=200)
    renews_at: datetime | None = None


class SubscriptionRead(Schema):
    """A team's AI subscription."""

    team_id: str
    seats: int
    seats_used: int
    plan_name: str | None
    renews_at: datetime | None


class SeatAssign(Schema):
    """The body of POST /api/teams/{id}/seats."""

    user_id: str = Field(min_length=1, max_length=26)


class SeatBatchRequest(Schema):
    """The body of POST /api/teams/{id}/seats/_assign and _unassign: up to 1,000 usernames."""

    usernames: list[Annotated[str, Field(min_length=1, max_length=150)]] = Field(
        min_length=1, max_length=1000
    )


class SeatBatchFailure(Schema):
    """A username a bulk seat action did not serve, and why."""

    username: str
    code: str


class SeatsAssigned(Schema):
    """The answer of a bulk assign: who got a seat, and who did not with a code."""

    assigned: list[str]
    failed: list[SeatBatchFailure]


class SeatsUnassigned(Schema):
    """The answer of a bulk unassign: whose seat was taken back, and whose not with a code."""

    unassigned: list[str]
    failed: list[SeatBatchFailure]


class SeatRead(Schema):
    """A seat and who holds it."""

    team_id: str
    user_id: str
    created_at: datetime


class SeatUsageRead(Schema):
    """One team's line in GET /api/seats."""

    team_id: str
    team_name: str
    used: int
    total: int
    plan_name: str | None
    renews_at: datetime | None


def _check_scope(scope: str, scope_id: str | None) -> None:
    if scope == "global" and scope_id is not None:
        raise ValueError("a global budget has no scopeId")
    if scope != "global" and not scope_id:
        raise ValueError(f"a {scope} budget needs a scopeId")


def _check_thresholds(thresholds: list[float]) -> None:
    if any(not 0 < t <= 1 for t in thresholds):
        raise ValueError("thresholds are fractions of the limit between 0 (excluded) and 1")


class BudgetCreate(Schema):
    """The body of POST /api/usage-budgets."""

    name: str = Field(min_length=1, max_length=200)
    scope: BudgetScope
    scope_id: str | None = Field(default=None, max_length=26)
    limit_micros: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    limit_tokens: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    period: Period = "month"
    hard: bool = True
    thresholds: list[float] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _consistent(self) -> BudgetCreate:
        _check_scope(self.scope, self.scope_id)
        _check_thresholds(self.thresholds)
        if self.limit_micros is None and self.limit_tokens is None:
            raise ValueError("set limitMicros, limitTokens or both")
        return self


class BudgetUpdate(Schema):
    """The body of PATCH /api/usage-budgets/{id}; omitted fields stay, null clears a limit."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    limit_micros: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    limit_tokens: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    period: Period | None = None
    hard: bool | None = None
    thresholds: list[float] | None = Field(default=None, max_length=10)

    @model_validator(mode="after")
    def _consistent(self) -> BudgetUpdate:
        if self.thresholds is not None:
            _check_thresholds(self.thresholds)
        return self


class BudgetRead(Schema):
    """A budget with its current period's figures."""

    id: str
    name: str
    scope: str
    scope_id: str | None
    limit_micros: int | None
    limit_tokens: int | None
    period: str
    hard: bool
    thresholds: list[float]
    profile_id: str | None
    created_at: datetime
    period_start: datetime
    resets_at: datetime | None
    spent_micros: int
    reserved_micros: int
    remaining_micros: int | None
    spent_tokens: int
    reserved_tokens: int
    remaining_tokens: int | None


class UsageProfileCreate(Schema):
    """The body of POST /api/usage-profiles."""

    name: str = Field(min_length=1, max_length=200)
    scope: ProfileScope
    scope_id: str = Field(min_length=1, max_length=26)
    allowed_models: list[str] | None = Field(default=None, max_length=500)
    monthly_cap_micros: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)


class UsageProfileUpdate(Schema):
    """The body of PATCH /api/usage-profiles/{id}; omitted fields stay, null clears."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    allowed_models: list[str] | None = Field(default=None, max_length=500)
    monthly_cap_micros: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)


class UsageProfileRead(Schema):
    """A usage profile; `allowedModels` null means every model."""

    id: str
    name: str
    scope: str
    scope_id: str
    allowed_models: list[str] | None
    monthly_cap_micros: int | None
    created_at: datetime


class RateLimitOverrideCreate(Schema):
    """The body of POST /api/rate-limits; null means no limit on that axis."""

    scope: OverrideScope
    scope_id: str = Field(min_length=1, max_length=26)
    requests_per_minute: int | None = Field(default=None, ge=0, le=MAX_REQUESTS_PER_MINUTE)
    tokens_per_minute: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)


class RateLimitOverrideUpdate(Schema):
    """The body of PATCH /api/rate-limits/{id}."""

    requests_per_minute: int | None = Field(default=None, ge=0, le=MAX_REQUESTS_PER_MINUTE)
    tokens_per_minute: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)


class RateLimitOverrideRead(Schema):
    """A rate-limit override."""

    id: str
    scope: str
    scope_id: str
    requests_per_minute: int | None
    tokens_per_minute: int | None


class UsageAlertRead(Schema):
    """An alert: a budget crossed a threshold in a period."""

    id: str
    budget_id: str
    budget_name: str
    period_start: datetime
    threshold: float
    spent_micros: int
    spent_tokens: int
    limit_micros: int | None
    limit_tokens: int | None
    created_at: datetime
    delivered_at: datetime | None


class LedgerEntryRead(Schema):
    """One request's terminal record."""

    id: str
    reservation_id: str
    outcome: Outcome
    model: str
    user_id: str
    team_id: str | None
    api_token_id: str | None
    assistant_id: str | None
    source: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_micros: int
    estimated: bool
    created_at: datetime


class UsageQuery(Schema):
    """The query of GET /api/usage: filters and the dimensions to group by."""

    user_id: str | None = None
    team_id: str | None = None
    model: str | None = None
    assistant_id: str | None = None
    api_token_id: str | None = None
    start: datetime | None = Field(default=None, alias="from")
    end: datetime | None = Field(default=None, alias="to")
    group_by: list[GroupBy] = Field(default_factory=list, max_length=8)


class UsageRowRead(Schema):
    """One group of GET /api/usage; `group` maps each groupBy dimension to its value, `names`
    each user, team, apiToken and assistant id of it to that one's name (when it still exists)."""

    group: dict[str, str | None]
    names: dict[str, str] = Field(default_factory=dict)
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_micros: int


class UsageMonthRead(Schema):
    """One month of one team's use of one model (GET /api/usage/monthly)."""

    month: str
    team_id: str | None
    team_name: str | None
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_micros: int


class ConsumerRead(Schema):
    """One of the top consumers of a period, by cost: a user, team, API token or assistant."""

    id: str
    name: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_micros: int


class TopConsumersRead(Schema):
    """The top consumers of a period by cost (GET /api/usage/top-consumers); `to` is exclusive."""

    period: str | None
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    users: list[ConsumerRead]
    teams: list[ConsumerRead]
    api_tokens: list[ConsumerRead]
    assistants: list[ConsumerRead]
