"""Errors on the compatibility surfaces (`/v1/...`), in each dialect's own shape.

Every failure on a path under a prefix of `DIALECTS` is answered by that prefix's renderer (the
longest matching prefix wins); every other path keeps Switchboard's `{code, message, details}`
(api/errors.py). `install(app)`, called after `api.errors.install`, wraps each exception handler
of the app: the handler still runs (metrics, logging, headers), then its answer is restated as a
`Problem` (status, Switchboard's code, message, param, OpenAI's error type, headers) and rendered.
That covers domain errors, request validation, 401s of the auth dependencies, unknown routes and
unexpected failures alike, for every `/v1` endpoint, present or future.

A surface with another dialect registers its renderer for its prefix:

    from api import v1_errors
    v1_errors.register("/v1/messages", render_anthropic)  # (exc, Problem) -> Response

A renderer gets the exception and its `Problem`; `Problem.type` is in OpenAI's vocabulary (see
`TYPE_BY_STATUS`), and a renderer for another dialect maps it to its own words (or renders the
exception itself). Middleware that answers before the app's handlers (body limits,
draining) calls `response_at(path, error)`.

On `/v1` the statuses are OpenAI's: 400 for bad input (not 422), 401, 403, 404 (an unknown,
or not set-up model is 404 `model_not_found`), 409, 413, 429 for rate limits and, as
`insufficient_quota` with `x-should-retry: false`, for budgets (402 on `/api`), 5xx for ours.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api import errors
from core.errors import SwitchboardError

# Switchboard codes a /v1 client reads as OpenAI's `model_not_found` (404, param `model`): models
# `/v1/models` does not list. A model turned off for the caller's team stays 403 `model_disabled`.
MODEL_NOT_FOUND = frozenset({"unknown_model", "model_unavailable"})
# Switchboard statuses OpenAI spells otherwise.
STATUS_ON_V1 = {422: 400, 402: 429}
TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
}
_HOP_HEADERS = frozenset({"content-length", "content-type"})


@dataclass(frozen=True)
class Problem:
    """A failed compatibility-surface request, before a dialect renders it."""

    status: int
    code: str
    message: str
    type: str
    param: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


Renderer = Callable[[Exception, Problem], Response]


def render_openai(_: Exception, problem: Problem) -> Response:
    """OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`."""
    return JSONResponse(
        {"error": openai_error(problem)}, status_code=problem.status, headers=dict(problem.headers)
    )


def openai_error(problem: Problem) -> dict[str, Any]:
    """The inner object of OpenAI's error body (also sent inside a broken stream)."""
    return {
        "message": problem.message,
        "type": problem.type,
        "param": problem.param,
        "code": problem.code,
    }


DIALECTS: dict[str, Renderer] = {"/v1/": render_openai}


def register(prefix: str, renderer: Renderer) -> None:
    """Render the errors of paths under `prefix` with `renderer` (longest prefix wins)."""
    DIALECTS[prefix] = renderer


def dialect_of(path: str) -> Renderer | None:
    """The renderer for a path, or None for Switchboard's own shape."""
    found = [prefix for prefix in DIALECTS if path.startswith(prefix)]
    return DIALECTS[max(found, key=len)] if found else None


def problem_of(error: SwitchboardError) -> Problem:
    """A domain error as a compatibility surface states it."""
    response = errors.error_response(error)
    return restate(response.status_code, error.code, error.message, error.details, response)


def restate(
    status: int, code: str, message: str, details: Mapping[str, Any], response: Response
) -> Problem:
    """Switchboard's answer (status, code, message, details, headers) in OpenAI's terms."""
    headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_HEADERS}
    param = _param(details)
    if code in MODEL_NOT_FOUND:
        return Problem(404, "model_not_found", message, "not_found_error", "model", headers)
    if status == 402:
        headers["x-should-retry"] = "false"  # a budget does not refill in seconds
        return Problem(429, code, message, "insufficient_quota", param, headers)
    status = STATUS_ON_V1.get(status, status)
    if status == 429:
        headers.update(_rate_headers(details))
    kind = TYPE_BY_STATUS.get(status)
    if kind is None:
        kind = "server_error" if status >= 500 else "invalid_request_error"
    return Problem(status, code, message, kind, param, headers)


def response_at(path: str, error: SwitchboardError) -> Response:
    """A domain error answered in the dialect of `path` (for middleware outside the handlers)."""
    render = dialect_of(path)
    return errors.error_response(error) if render is None else render(error, problem_of(error))


Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


def install(app: FastAPI) -> None:
    """Answer failures under every dialect's prefix in its shape (after `api.errors.install`)."""
    for kind, handler in list(app.exception_handlers.items()):
        app.exception_handlers[kind] = _dialected(handler)


def _dialected(handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        answer = handler(request, exc)
        response = await answer if isinstance(answer, Awaitable) else answer
        render = dialect_of(request.scope.get("path", ""))
        if render is None or not isinstance(response, JSONResponse):
            return response
        body = json.loads(bytes(response.body))
        if not isinstance(body, dict) or "code" not in body:
            return response
        details = body.get("details") or {}
        status = response.status_code
        return render(exc, restate(status, body["code"], body["message"], details, response))

    return handle


def _param(details: Mapping[str, Any]) -> str | None:
    """The request field a refusal is about, when it names one."""
    problems = details.get("errors")
    if isinstance(problems, list) and problems and isinstance(problems[0], dict):
        field = str(problems[0].get("field") or "")
        return field if field and not field.isdigit() else None  # a digit: the body's JSON
    return None


def _rate_headers(details: Mapping[str, Any]) -> dict[str, str]:
    """OpenAI's `x-ratelimit-*-requests|tokens` for the axis a rate limit refused on."""
    axis = details.get("axis")
    if axis not in {"requests", "tokens"} or "limit" not in details:
        return {}
    suffix = axis.capitalize()
    return {
        f"X-RateLimit-Limit-{suffix}": str(details["limit"]),
        f"X-RateLimit-Remaining-{suffix}": str(details.get("remaining", 0)),
        f"X-RateLimit-Reset-{suffix}": f"{details.get('reset', 1)}s",
    }
