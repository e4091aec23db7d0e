"""Anthropic's error shape for `/v1/messages`: `{"type":"error","error":{"type","message"}}`.

Registered with `api.v1_errors` for the `/v1/messages` prefix. Statuses follow Anthropic's API so
its SDKs raise the matching exception: bad input 400 (`invalid_request_error`), a bad key 401, an
empty budget 402 (`billing_error`, the SDK's `PaymentRequiredError`, not retried), no seat or a
model not allowed 403 (`permission_error`), an unknown model 404, a rate limit 429 (with
Retry-After: the SDK waits and retries), a failing provider 529 (`overloaded_error`).
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.responses import Response

from api import v1_errors
from api.v1_errors import Problem
from core import errors

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def render(exc: Exception, problem: Problem) -> Response:
    """A failed `/v1/messages` request in Anthropic's shape (a `v1_errors` renderer)."""
    status = status_of(exc, problem)
    body = {"type": "error", "error": {"type": error_type(status), "message": problem.message}}
    return JSONResponse(body, status_code=status, headers=dict(problem.headers))


def stream_error_type(error: errors.SwitchboardError) -> str:
    """The type of the `error` event that ends a stream which failed after it began."""
    return error_type(status_of(error, v1_errors.problem_of(error)))


def status_of(exc: Exception, problem: Problem) -> int:
    """The status Anthropic answers with, from OpenAI's statement of the failure."""
    if problem.type == "insufficient_quota":  # a budget: OpenAI says 429, Anthropic 402
        return 402
    if isinstance(exc, errors.Unavailable) or problem.status == 503:
        return 529
    return 500 if problem.status >= 500 else problem.status


def error_type(status: int) -> str:
    """Anthropic's error type for a status."""
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
