"""Anthropic's error shape for `/v1/messages`: `{"type":"error","error":{"type","message"}}`.

Statuses follow Anthropic's API so its SDKs raise the matching exception: a bad request 400
(`invalid_request_error`), a bad key 401, an empty budget 402 (`billing_error`, the SDK's
`PaymentRequiredError`), no seat or a model not allowed 403 (`permission_error`), an unknown model
404, a rate limit 429 (with Retry-After, so the SDK waits and retries), a failing provider 529
(`overloaded_error`).
"""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import status_for
from core import errors
from core.catalog import ModelUnavailable, UnknownModel

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


def status_of(error: errors.SwitchboardError) -> int:
    """The status Anthropic would answer a domain error with."""
    if isinstance(error, UnknownModel | ModelUnavailable):
        return 404
    if isinstance(error, errors.Unavailable):
        return 529
    status = status_for(error)
    return 400 if status in {409, 422} else status


def error_type(status: int) -> str:
    """Anthropic's error type for a status."""
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error in Anthropic's shape."""
    body = {"type": "error", "error": {"type": error_type(status), "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def render(exc: Exception) -> JSONResponse:
    """Any failure of a `/v1/messages` request in Anthropic's shape."""
    if isinstance(exc, errors.SwitchboardError):
        headers: dict[str, str] = {}
        if isinstance(exc, errors.RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        return response(status_of(exc), exc.message, headers)
    if isinstance(exc, RequestValidationError):
        problems = exc.errors()
        first = problems[0] if problems else {}
        field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return response(400, f"{field}: {first.get('msg', 'invalid')}")
    if isinstance(exc, StarletteHTTPException):
        status = exc.status_code if exc.status_code < 500 else 500
        return response(status, str(exc.detail))
    return response(500, "Something went wrong on our side; it has been logged.")
