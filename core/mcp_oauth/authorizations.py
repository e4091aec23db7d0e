"""Authorization requests (RFC 6749 §4.1 with PKCE, OAuth 2.1): checked at /authorize, shown to
the signed-in user for consent, and on "Allow" turned into a one-time code for the client.

Only `response_type=code` with an S256 `code_challenge`; the redirect URI must be one the client
registered, exactly; the scope is `mcp`; the RFC 8707 `resource`, when given, must be our /mcp.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import api_tokens, clock
from core.mcp_oauth import clients
from core.mcp_oauth.errors import AuthorizationNotFound, OAuthRefused, RedirectedRefusal
from core.mcp_oauth.models import OAuthAuthorization, OAuthClient
from core.models import User

REQUEST_SECONDS = 600  # how long a request waits for the user's decision
CODE_SECONDS = 60  # how long a code may be redeemed
KEEP_SECONDS = 86400  # requests (and their codes) are deleted this long after they expired
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


@dataclass(frozen=True, kw_only=True)
class AuthorizeRequest:
    """The query of GET /authorize, as sent."""

    response_type: str | None
    client_id: str | None
    redirect_uri: str | None
    scope: str | None
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    resource: str | None


@dataclass(frozen=True)
class Pending:
    """An authorization request waiting for consent, with its client."""

    authorization: OAuthAuthorization
    client: OAuthClient


def same_resource(given: str, ours: str) -> bool:
    """Whether a `resource` parameter names our /mcp (a trailing slash aside)."""
    return given.rstrip("/") == ours.rstrip("/")


async def _client_and_redirect(
    session: AsyncSession, request: AuthorizeRequest
) -> tuple[OAuthClient, str]:
    client = await clients.get(session, client_id=request.client_id or "")
    if client is None:
        raise OAuthRefused("invalid_client", "Unknown client_id; register the client first.")
    redirect = request.redirect_uri
    if redirect is None and len(client.redirect_uris) == 1:
        redirect = client.redirect_uris[0]
    if redirect is None or redirect not in client.redirect_uris:
        raise OAuthRefused(
            "invalid_request", "redirect_uri is not one this client registered (exact match)."
        )
    if client.status != "active":
        raise OAuthRefused(
            "unauthorized_client", "This MCP client awaits an admin's approval in Switchboard."
        )
    return client, redirect


async def start(
    session: AsyncSession, *, request: AuthorizeRequest, resource: str
) -> OAuthAuthorization:
    """Check an authorization request and keep it until the user decides.

    Raises:
        OAuthRefused: unknown client or redirect URI (never redirected to).
        RedirectedRefusal: anything else wrong, told to the client at its redirect URI.
    """
    client, redirect = await _client_and_redirect(session, request)

    def refuse(error: str, description: str) -> RedirectedRefusal:
        return RedirectedRefusal(error, description, redirect_uri=redirect, state=request.state)

    if request.response_type != "code":
        raise refuse("unsupported_response_type", "Only response_type=code is supported.")
    if not request.code_challenge:
        raise refuse("invalid_request", "PKCE is required: send code_challenge (S256).")
    if request.code_challenge_method != "S256":
        raise refuse("invalid_request", "code_challenge_method must be S256.")
    if not _CHALLENGE.match(request.code_challenge):
        raise refuse("invalid_request", "code_challenge is not a base64url S256 challenge.")
    scope = " ".join(dict.fromkeys((request.scope or clients.SCOPE).split())) or clients.SCOPE
    if scope != clients.SCOPE:
        raise refuse("invalid_scope", f"The only scope is {clients.SCOPE!r}.")
    if request.resource is not None and not same_resource(request.resource, resource):
        raise refuse("invalid_target", f"resource must be {resource}.")
    if request.state is not None and len(request.state) > 1000:
        raise refuse("invalid_request", "state is longer than 1000 characters.")
    now = clock.now()
    stale = OAuthAuthorization.expires_at < now - timedelta(seconds=KEEP_SECONDS)
    await session.execute(delete(OAuthAuthorization).where(stale))  # kept small as it goes
    authorization = OAuthAuthorization(
        client_id=client.id,
        redirect_uri=redirect,
        scope=scope,
        resource=resource,
        state=request.state,
        code_challenge=request.code_challenge,
        created_at=now,
        expires_at=now + timedelta(seconds=REQUEST_SECONDS),
    )
    session.add(authorization)
    await session.flush()
    return authorization


async def pending(session: AsyncSession, *, authorization_id: str) -> Pending:
    """A request still waiting for consent.

    Raises:
        AuthorizationNotFound: no such request, or it expired or was decided.
    """
    found = await session.get(OAuthAuthorization, authorization_id[:26])
    if (
        found is None
        or found.decided_at is not None
        or clock.as_utc(found.expires_at) <= clock.now()
    ):
        raise AuthorizationNotFound(authorizationId=authorization_id)
    client = await session.get(OAuthClient, found.client_id)
    if client is None or client.status != "active":
        raise AuthorizationNotFound(authorizationId=authorization_id)
    return Pending(found, client)


def redirect_with(redirect_uri: str, params: dict[str, str | None]) -> str:
    """The redirect URI with parameters added to its query."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return redirect_uri + ("&" if "?" in redirect_uri else "?") + query


async def allow(session: AsyncSession, *, authorization_id: str, user: User) -> str:
    """The user allows the client: a one-time code; returns where to send the browser.

    Raises:
        AuthorizationNotFound: no such request waiting.
    """
    found = (await pending(session, authorization_id=authorization_id)).authorization
    code = secrets.token_urlsafe(32)
    expires = clock.now() + timedelta(seconds=CODE_SECONDS)
    await _decide(session, found, user, code_hash=api_tokens.digest(code), code_expires_at=expires)
    return redirect_with(found.redirect_uri, {"code": code, "state": found.state})


async def deny(session: AsyncSession, *, authorization_id: str, user: User) -> str:
    """The user denies the client; returns where to send the browser (access_denied).

    Raises:
        AuthorizationNotFound: no such request waiting.
    """
    found = (await pending(session, authorization_id=authorization_id)).authorization
    await _decide(session, found, user)
    params = {
        "error": "access_denied",
        "error_description": "The user denied access.",
        "state": found.state,
    }
    return redirect_with(found.redirect_uri, params)


async def _decide(
    session: AsyncSession, found: OAuthAuthorization, user: User, **values: object
) -> None:
    """Record the decision once: a second decision (another tab, a race) finds none waiting."""
    decided = await session.execute(
        update(OAuthAuthorization)
        .where(OAuthAuthorization.id == found.id, OAuthAuthorization.decided_at.is_(None))
        .values(user_id=user.id, decided_at=clock.now(), **values)
        .execution_options(synchronize_session=False)
    )
    if getattr(decided, "rowcount", 0) != 1:
        raise AuthorizationNotFound(authorizationId=found.id)
