"""Where each request came from, for the audit log (`core.audit.origin`)."""

from __future__ import annotations

from starlette.types import Scope

from core import audit


def origin_of(scope: Scope) -> audit.Origin:
    """The client's address (after trusted proxies) and user agent (the last one sent), which
    `api.middleware.RequestContext` sets as `core.audit.origin` for the request, so events
    recorded while serving it say where it came from."""
    client = scope.get("client")
    agent = b""
    for name, value in scope["headers"]:
        if name == b"user-agent":
            agent = value
    return audit.Origin(
        ip=client[0] if client else None, user_agent=agent.decode("latin-1") or None
    )
