"""Pure ASGI middleware (BaseHTTPMiddleware would hide client disconnects from streams)."""

from __future__ import annotations

import contextvars
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import audit_origin
from api.metrics import Metrics
from core import audit

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# In the scope: the `send` `RequestContext` was given. No layer inside it changes or holds back a
# response's body once its start has passed them all (they look at the start: status, headers, a
# flag), so a streamed body may be written there, past their wrappers (`api.sse.FramedStream`).
BODY_SEND = "switchboard.body_send"
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Scripts, styles and connections only from this origin: no inline script can run in the page.
CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    b"form-action 'self'"
)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class RequestContext:
    """What every HTTP request gets, in one layer with one wrapper of `send`:

    - an id (a sane incoming `X-Request-Id`, or a new one) for the logs, echoed in `X-Request-Id`;
    - the security headers on every response (CSP, nosniff, no framing, no referrer);
    - `core.audit.origin` (`api.audit_origin`), so audit events say where the request came from;
    - its metrics: counted by route template and status, timed to the first byte (`api.metrics`).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = _incoming_id(scope["headers"]) or os.urandom(16).hex()
        id_token = request_id.set(rid)
        origin_token = audit.origin.set(audit_origin.origin_of(scope))
        added = ((b"x-request-id", rid.encode()), *SECURITY_HEADERS)
        metrics = self.metrics
        status = 500

        async def send_with_context(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                metrics.first_byte(scope, time.perf_counter() - started)
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        scope[BODY_SEND] = send
        try:
            await self.app(scope, receive, send_with_context)
        finally:
            metrics.answered(scope, status)
            request_id.reset(id_token)
            audit.origin.reset(origin_token)


def _incoming_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The caller's `X-Request-Id` (the last one sent), if it is a sane one."""
    found = None
    for name, value in headers:
        if name == b"x-request-id":
            found = value
    if found is None:
        return None
    incoming = found.decode("latin-1")
    return incoming if _VALID_ID.match(incoming) else None
