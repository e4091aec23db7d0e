"""Where each request came from, for the audit log (`core.audit.origin`)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from core import audit


class AuditOriginMiddleware:
    """Sets `core.audit.origin` (the client's address, after trusted proxies, and user agent)
    for the request, so events recorded while serving it say where it came from."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        agent = dict(scope["headers"]).get(b"user-agent", b"").decode("latin-1")
        where = audit.Origin(ip=client[0] if client else None, user_agent=agent or None)
        token = audit.origin.set(where)
        try:
            await self.app(scope, receive, send)
        finally:
            audit.origin.reset(token)
