"""The URL clients reach Switchboard at, and the proxies believed when they say otherwise.

Absolute URLs the server hands out (the MCP resource metadata and its `WWW-Authenticate`, OAuth
redirect URIs, share links) come from here: `SWITCHBOARD_PUBLIC_URL` when set; else, per request,
the scheme and host a trusted proxy forwarded, or the address the connection came in on; else the
address `switchboard serve` listens on. `X-Forwarded-For`/`-Proto`/`-Host` are believed only from
the addresses in `SWITCHBOARD_TRUSTED_PROXIES` (none by default); from anyone else they are ignored.
"""

from __future__ import annotations

import ipaddress
import re
from typing import cast

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from core.settings import Settings

FORWARDED_HOST = "switchboard.forwarded_host"  # the scope key a trusted proxy's host goes under
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
_WILDCARDS = {"", "0.0.0.0", "::"}
_DEFAULT_PORTS = {("http", 80), ("https", 443)}


def listening_url(settings: Settings) -> str:
    """`SWITCHBOARD_PUBLIC_URL`, else the address the server listens on (a wildcard host named
    as 127.0.0.1): for URLs made outside a request, such as OAuth redirect URIs."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = "127.0.0.1" if settings.host in _WILDCARDS else settings.host
    return f"http://{_netloc('http', host, settings.port)}"


def request_url(scope: Scope, settings: Settings) -> str:
    """The base URL as the client of this request reaches us: `SWITCHBOARD_PUBLIC_URL`, else the
    scheme and host a trusted proxy forwarded, else the local address the connection came in on
    (the bound host and port)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    raw = str(scope.get("scheme") or "http")
    scheme = {"ws": "http", "wss": "https"}.get(raw, raw)
    forwarded = scope.get(FORWARDED_HOST)
    if forwarded is not None:
        return f"{scheme}://{forwarded}"
    server = scope.get("server")
    if not server or server[1] is None:
        return listening_url(settings)
    return f"{scheme}://{_netloc(scheme, str(server[0]), int(server[1]))}"


def _netloc(scheme: str, host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return host if (scheme, port) in _DEFAULT_PORTS else f"{host}:{port}"


class TrustedProxies:
    """Believes `X-Forwarded-For` and `-Proto` (uvicorn's ProxyHeadersMiddleware) and
    `X-Forwarded-Host` only when the connection comes from a configured proxy."""

    def __init__(self, app: ASGIApp, *, proxies: list[str]) -> None:
        self.networks = [ipaddress.ip_network(p, strict=False) for p in proxies]
        # uvicorn types ASGI apps its own way; the middleware is a plain ASGI app all the same.
        proxied = ProxyHeadersMiddleware(app, trusted_hosts=proxies)  # type: ignore[arg-type]
        self.app: ASGIApp = cast(ASGIApp, proxied) if proxies else app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.pop(FORWARDED_HOST, None)  # only this middleware may set it
        if scope["type"] in ("http", "websocket") and self._trusted(scope.get("client")):
            host = _forwarded_host(scope)
            if host is not None:
                scope[FORWARDED_HOST] = host
        await self.app(scope, receive, send)

    def _trusted(self, client: tuple[str, int] | None) -> bool:
        if not self.networks or not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def _forwarded_host(scope: Scope) -> str | None:
    """The host the nearest proxy forwarded (the last of a list), if it is a plain host[:port]."""
    values = [v for k, v in scope.get("headers", ()) if k == b"x-forwarded-host"]
    if not values:
        return None
    host = values[-1].decode("latin-1").split(",")[-1].strip()
    return host if _HOST.match(host) else None


class NamedMetadataUrl:
    """Rewrites the `resource_metadata` URL in an app's 401/403 `WWW-Authenticate` (fixed when the
    MCP app is built) to the one under the URL this request reached us at."""

    def __init__(self, app: ASGIApp, *, settings: Settings, path: str) -> None:
        self.app = app
        self.settings = settings
        self.path = path
        self.built = (listening_url(settings) + path).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        actual = (request_url(scope, self.settings) + self.path).encode()

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (401, 403):
                message["headers"] = [
                    (k, v.replace(self.built, actual) if k.lower() == b"www-authenticate" else v)
                    for k, v in message["headers"]
                ]
            await send(message)

        await self.app(scope, receive, named if actual != self.built else send)
