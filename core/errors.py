"""The root of every domain error, and the kinds the API maps to statuses.

Each domain defines its own leaves under these kinds (`billing.errors.BudgetExceeded` is a
`PaymentRequired`). A leaf's `code` is the JSON error code and its docstring is what a user reads.
"""

from __future__ import annotations

from typing import Any


class SwitchboardError(Exception):
    """Something went wrong."""

    code = "error"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        doc = (type(self).__doc__ or "").strip().splitlines()
        self.message = message or (doc[0] if doc else self.code)
        self.details: dict[str, Any] = details
        super().__init__(self.message)


class InvalidInput(SwitchboardError):
    """The request is not valid."""

    code = "invalid_input"


class Unauthenticated(SwitchboardError):
    """Log in or send an API token in the Authorization header."""

    code = "unauthenticated"


class PermissionDenied(SwitchboardError):
    """You are not allowed to do that."""

    code = "permission_denied"


class NotFound(SwitchboardError):
    """No such object, or you may not see it."""

    code = "not_found"


class Conflict(SwitchboardError):
    """That conflicts with the current state; reload and try again."""

    code = "conflict"


class PaymentRequired(SwitchboardError):
    """A usage budget does not allow this request."""

    code = "payment_required"


class TooLarge(SwitchboardError):
    """The request or upload is larger than allowed."""

    code = "too_large"


class RateLimited(SwitchboardError):
    """Too many requests; wait and try again."""

    code = "rate_limited"

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class Unavailable(SwitchboardError):
    """A service Switchboard depends on is not available right now; try again shortly."""

    code = "unavailable"


class InvalidSettings(SwitchboardError):
    """A setting has a value Switchboard cannot use."""

    code = "invalid_settings"


class InvalidCatalog(InvalidSettings):
    """The model catalog (models.yaml) has an entry Switchboard cannot use."""

    code = "invalid_catalog"


class InvalidCredentials(Unauthenticated):
    """Wrong username or password."""

    code = "invalid_credentials"


class UserNotFound(NotFound):
    """No such user."""

    code = "user_not_found"


class UsernameTaken(Conflict):
    """That username is taken; pick another."""

    code = "username_taken"


class TeamNotFound(NotFound):
    """No such team."""

    code = "team_not_found"


class TeamNameTaken(Conflict):
    """A team of that name exists; pick another name."""

    code = "team_name_taken"


class ApiTokenNotFound(NotFound):
    """No such API token."""

    code = "api_token_not_found"


class LastAdmin(Conflict):
    """This is the last active admin; make another user admin first."""

    code = "last_admin"


class RenderingTooCostly(TooLarge):
    """Rendering this text took longer than the server allows; send shorter texts."""

    code = "rendering_too_costly"


class WebhookNotFound(NotFound):
    """No such webhook."""

    code = "webhook_not_found"


class WebhookUrlNotAllowed(InvalidInput):
    """That URL's host is private or local; allow it with SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS."""

    code = "webhook_url_not_allowed"
