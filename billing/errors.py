"""Billing errors: each leaf's `code` is the JSON error code and its docstring what a user reads."""

from __future__ import annotations

from typing import Any

from core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PaymentRequired,
    PermissionDenied,
    RateLimited,
    SwitchboardError,
)


class BillingError(SwitchboardError):
    """Billing refused or could not find something."""

    code = "billing_error"


class SeatRequired(BillingError, PermissionDenied):
    """You need an AI seat to use models; ask an admin to assign you one."""

    code = "seat_required"


class SeatsExhausted(BillingError, Conflict):
    """Every seat of this team's AI subscription is assigned; add seats or unassign one first."""

    code = "seats_exhausted"


class SeatAlreadyAssigned(BillingError, Conflict):
    """That user already has a seat in this team."""

    code = "seat_already_assigned"


class SeatsInUse(BillingError, Conflict):
    """More seats are assigned than the new number; unassign some first."""

    code = "seats_in_use"


class NotTeamMember(BillingError, InvalidInput):
    """Only members of the team can get one of its seats."""

    code = "not_team_member"


class BudgetExceeded(BillingError, PaymentRequired):
    """A usage budget does not leave room for this request; it resets at the time given."""

    code = "budget_exceeded"


class PriceUnknown(BillingError, PaymentRequired):
    """This model has no price, so it cannot run under a spending budget; set its price first."""

    code = "price_unknown"


class ModelNotAllowed(BillingError, PermissionDenied):
    """Your usage profile does not allow this model."""

    code = "model_not_allowed"


class RateLimitExceeded(BillingError, RateLimited):
    """Too many requests or tokens this minute; wait and try again."""

    code = "rate_limited"

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int = 1,
        **details: Any,
    ) -> None:
        RateLimited.__init__(self, message, retry_after=retry_after, **details)


class InvalidBudget(BillingError, InvalidInput):
    """A budget needs a money limit, a token limit, or both."""

    code = "invalid_budget"


class ReservationClosed(BillingError, Conflict):
    """This request was already settled or released; stop and do not bill it again."""

    code = "reservation_closed"


class UsageProfileExists(BillingError, Conflict):
    """That team or user has a usage profile already; change it instead."""

    code = "usage_profile_exists"


class RateLimitOverrideExists(BillingError, Conflict):
    """That team, user or API token has a rate-limit override already; change it instead."""

    code = "rate_limit_override_exists"


class SubscriptionNotFound(BillingError, NotFound):
    """That team has no AI subscription."""

    code = "subscription_not_found"


class SeatNotFound(BillingError, NotFound):
    """That user has no seat in this team."""

    code = "seat_not_found"


class BudgetNotFound(BillingError, NotFound):
    """No such usage budget."""

    code = "budget_not_found"


class ReservationNotFound(BillingError, NotFound):
    """No such admitted request."""

    code = "reservation_not_found"


class UsageProfileNotFound(BillingError, NotFound):
    """No such usage profile."""

    code = "usage_profile_not_found"


class RateLimitOverrideNotFound(BillingError, NotFound):
    """No such rate-limit override."""

    code = "rate_limit_override_not_found"
