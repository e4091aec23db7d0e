"""Request body limits, enforced while the body streams in (pure ASGI middleware).

A body declared (`Content-Length`) over its path's limit is refused with 413 `request_too_large`
before any of it is read; a chunked body is counted as it arrives and cut off the moment it passes
the limit. Either way the connection is closed, so the rest is never read. JSON bodies get
`SWITCHBOARD_MAX_JSON_BYTES`, `/v1` `SWITCHBOARD_MAX_V1_BYTES` (a model call carries its whole
context), uploads their files' limits. A path allowed more than the JSON limit authenticates its
caller from the headers first: FastAPI reads a body before dependencies run, so otherwise anyone
could make the server read an upload's worth of bytes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import deps
from api.v1_errors import response_at
from assistant.assistants import skill_files
from core.errors import SwitchboardError, TooLarge
from core.settings import Settings

log = logging.getLogger(__name__)
# Part headers and the small form fields beside the files of a multipart upload.
MULTIPART_OVERHEAD = 1024 * 1024


class RequestTooLarge(TooLarge):
    """The request body is larger than this endpoint accepts."""

    code = "request_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The request body is larger than the {limit} bytes this endpoint accepts.",
            limit=limit,
        )


@dataclass(frozen=True)
class BodyLimit:
    """The most a body may hold on the paths `pattern` matches; over the JSON limit, the caller
    is authenticated from the headers before any of it is read."""

    pattern: re.Pattern[str]
    max_bytes: int


def body_limits(settings: Settings) -> list[BodyLimit]:
    """The paths allowed more than `settings.max_json_bytes`: every upload route, `/v1` and the
    Markdown renderer."""
    files = settings.max_upload_bytes * settings.max_files_per_upload + MULTIPART_OVERHEAD
    skill = skill_files.MAX_ARCHIVE_BYTES + MULTIPART_OVERHEAD
    return [
        BodyLimit(re.compile(r"^/v1/"), settings.max_v1_bytes),  # first: the most requests
        BodyLimit(re.compile(r"^/api/library/files/?$"), files),
        BodyLimit(re.compile(r"^/api/assistants/[^/]+/files/?$"), files),
        BodyLimit(re.compile(r"^/api/chats/[^/]+/attachments/?$"), files),
        BodyLimit(re.compile(r"^/api/assistants/[^/]+/skills/_import/?$"), skill),
        # 500,000 characters of Markdown in all: up to 4 bytes each in UTF-8.
        BodyLimit(re.compile(r"^/api/markdown/_render/?$"), 4 * 1024 * 1024),
    ]


class BodyLimitMiddleware:
    """Refuses bodies over their path's limit (413) as they arrive, and authenticates callers of
    paths with a larger limit before reading their body (401/403)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.default = settings.max_json_bytes
        self.limits: Sequence[BodyLimit] = body_limits(settings)

    def limit_for(self, path: str) -> tuple[int, bool]:
        """The body limit of a path, and whether its caller is authenticated before reading."""
        for limit in self.limits:
            if limit.pattern.match(path):
                return max(limit.max_bytes, self.default), limit.max_bytes > self.default
        return self.default, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, authenticate_first = self.limit_for(scope["path"])
        if _declared_length(scope) > limit:
            await _refuse(RequestTooLarge(limit), scope, receive, send)
            return
        if authenticate_first:
            try:
                await _authenticate(scope)
            except SwitchboardError as refused:
                await _refuse(refused, scope, receive, send)
                return
        counted = _Counted(scope, receive, send, limit)
        try:
            await self.app(scope, counted.receive, counted.send)
        except Exception:
            if not counted.cut:
                raise
            log.debug("a request cut off at %d bytes ended with an error", limit)


class _Counted:
    """One request's body, counted as the app reads it and cut off past `limit`."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.limit = limit
        self.received = 0
        self.started = False  # the app began its answer
        self.cut = False  # the body passed the limit: the app now sees a disconnect
        self.refused = False  # and our 413 went out instead of the app's answer

    async def receive(self) -> Message:
        """The next message, or a disconnect once the body has passed the limit."""
        if self.cut:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                await self._cut_off()
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        """Pass the app's message on, unless our 413 went out instead of its answer."""
        if self.refused:
            return  # the app's answer to the "disconnect" goes nowhere: ours was sent
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def _cut_off(self) -> None:
        """Stop reading; answer 413 unless the app has begun its answer (it then just ends)."""
        self.cut = True
        if not self.started:
            self.refused = True
            await _refuse(RequestTooLarge(self.limit), self.scope, self._receive, self._send)


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server refuses a malformed length before the app sees it
    return 0


async def _authenticate(scope: Scope) -> None:
    """Resolve the caller as the route's dependency will (which then reuses the result).

    Raises:
        Unauthenticated: no valid token or session.
        CsrfFailed: a cookie-authenticated write without the CSRF header.
    """
    principal = await deps.get_principal(Request(scope), scope["app"].state.services)
    scope[deps.PRINCIPAL_KEY] = principal


async def _refuse(error: SwitchboardError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with the error and close the connection, so the unread body is never read."""
    scope["app"].state.services.metrics.error(error.code)
    response = response_at(scope["path"], error)  # /v1: OpenAI's shape
    response.headers["Connection"] = "close"
    await response(scope, receive, send)
