"""Every error the API returns, in one shape: `{code, message, details}` with the right status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core import errors

log = logging.getLogger(__name__)

# Domain error kinds to HTTP statuses: the one table. A leaf takes its nearest kind's status.
STATUS_BY_KIND: dict[type[errors.SwitchboardError], int] = {
    errors.InvalidInput: 422,
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PaymentRequired: 402,
    errors.TooLarge: 413,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
    errors.InvalidSettings: 503,
    errors.SwitchboardError: 400,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}


def status_for(error: errors.SwitchboardError) -> int:
    """The HTTP status of a domain error: its nearest kind's in STATUS_BY_KIND."""
    for kind in type(error).__mro__:
        if kind in STATUS_BY_KIND:
            return STATUS_BY_KIND[kind]
    return 400


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON error shape of every failed request."""
    return {"code": code, "message": message, "details": details or {}}


def error_response(error: errors.SwitchboardError) -> JSONResponse:
    """A domain error as a JSON response (with Retry-After and rate headers where they apply)."""
    headers: dict[str, str] = {}
    if isinstance(error, errors.RateLimited):
        headers["Retry-After"] = str(error.retry_after)
        for key, header in (
            ("limit", "X-RateLimit-Limit"),
            ("remaining", "X-RateLimit-Remaining"),
            ("reset", "X-RateLimit-Reset"),
        ):
            if key in error.details:
                headers[header] = str(error.details[key])
    if isinstance(error, errors.Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    body = error_body(error.code, error.message, _jsonable(error.details))
    return JSONResponse(body, status_code=status_for(error), headers=headers)


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool | list | dict | None) else str(v)
        for k, v in details.items()
    }


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.SwitchboardError)
    request.app.state.services.metrics.error(exc.code)
    return error_response(exc)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "field": ".".join(
                str(p) for p in e.get("loc", ()) if p not in {"body", "query", "path"}
            ),
            "message": e.get("msg", ""),
        }
        for e in exc.errors()
    ]
    first = problems[0] if problems else {"field": "", "message": "invalid"}
    message = f"Invalid request: {first['field'] or 'body'}: {first['message']}."
    return JSONResponse(error_body("invalid_input", message, {"errors": problems}), status_code=422)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    status = exc.status_code if exc.status_code < 500 else 503
    return JSONResponse(error_body(code, message), status_code=status, headers=exc.headers)


async def _database(request: Request, exc: Exception) -> JSONResponse:
    # PostgreSQL refuses some text SQLite stores (a NUL character, say): the input's fault.
    text = str(getattr(exc, "orig", exc))
    if isinstance(exc, DataError) or "invalid byte sequence" in text or "0x00" in text:
        message = "The request holds characters or values the database cannot store."
        return JSONResponse(error_body("invalid_input", message), status_code=422)
    if isinstance(exc, OperationalError):
        log.warning("database unavailable: %s", text.splitlines()[0] if text else exc)
        message = "The database is busy or unreachable; try again in a moment."
        return JSONResponse(error_body("database_unavailable", message), status_code=503)
    if getattr(getattr(exc, "orig", None), "sqlstate", None) in _CONFLICTS:
        log.warning("database conflict: %s", text.splitlines()[0] if text else exc)
        message = "The request met another one changing the same data; try it again."
        body = error_body("database_conflict", message)
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
    if _gone_reference(exc):
        log.warning("reference gone: %s", text.splitlines()[0] if text else exc)
        message = (
            "Something this request refers to was removed by another request meanwhile; "
            "reload it and try again."
        )
        return JSONResponse(error_body("reference_gone", message), status_code=409)
    return await _unexpected(request, exc)


def _gone_reference(exc: Exception) -> bool:
    """A foreign key that failed at write time: the services check what a request names before
    they write, so the row went away between the check and the write (a user removed while
    making a chat, a folder deleted while a chat moves into it)."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == _FOREIGN_KEY or (
        isinstance(exc, IntegrityError) and "FOREIGN KEY constraint failed" in str(orig)
    )


# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back
# for another's sake, and the same request sent again may well pass.
_CONFLICTS = {"40P01", "40001"}
_FOREIGN_KEY = "23503"  # PostgreSQL's foreign_key_violation


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    body = error_body("internal_error", "Something went wrong on our side; it has been logged.")
    return JSONResponse(body, status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the JSON error shape."""
    app.add_exception_handler(errors.SwitchboardError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(Exception, _unexpected)
