"""The token endpoint's work: codes redeemed once with their PKCE verifier, refresh tokens
rotated with reuse detection, revocation (RFC 7009), and access tokens resolved for /mcp.

A code presented a second time revokes the grant it made; a refresh token presented after it
was rotated revokes its grant (OAuth 2.1 §4.3.1): in both cases someone else holds a copy. Those
revocations are written before the refusal, so the caller commits even when this module refuses.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import api_tokens, audit, clock
from core.ids import new_id
from core.mcp_oauth import clients
from core.mcp_oauth.authorizations import same_resource
from core.mcp_oauth.errors import OAuthRefused
from core.mcp_oauth.models import OAuthAuthorization, OAuthClient, OAuthGrant, OAuthToken
from core.models import User

ACCESS_PREFIX = "sbmcp_at_"
REFRESH_PREFIX = "sbmcp_rt_"
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


@dataclass(frozen=True, kw_only=True)
class Lifetimes:
    """How long tokens live (from settings)."""

    access_seconds: int
    refresh_seconds: int


@dataclass(frozen=True, kw_only=True)
class Issued:
    """Tokens just made for a grant (the secrets are shown this one time)."""

    grant: OAuthGrant
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class Resolved:
    """A live access token: its grant and user."""

    grant: OAuthGrant
    user: User
    expires_at: int


def is_access_token(secret: str) -> bool:
    """Whether a Bearer secret is an MCP client's access token (good on /mcp only)."""
    return secret.startswith(ACCESS_PREFIX)


def s256(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


async def _client(session: AsyncSession, client_id: str | None) -> OAuthClient:
    client = await clients.get(session, client_id=client_id or "")
    if client is None or client.status != "active":
        raise OAuthRefused("invalid_client", "Unknown client_id.")
    return client


async def _issue(session: AsyncSession, grant: OAuthGrant, lifetimes: Lifetimes) -> Issued:
    now = clock.now()
    # Tokens are kept until they expire (a spent refresh token: to notice its reuse), then go.
    await session.execute(delete(OAuthToken).where(OAuthToken.expires_at < now - timedelta(days=1)))
    access = ACCESS_PREFIX + secrets.token_urlsafe(32)
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    for kind, secret, seconds in (
        ("access", access, lifetimes.access_seconds),
        ("refresh", refresh, lifetimes.refresh_seconds),
    ):
        session.add(
            OAuthToken(
                grant_id=grant.id,
                kind=kind,
                token_hash=api_tokens.digest(secret),
                created_at=now,
                expires_at=now + timedelta(seconds=seconds),
            )
        )
    await session.flush()
    return Issued(
        grant=grant,
        access_token=access,
        refresh_token=refresh,
        expires_in=lifetimes.access_seconds,
    )


async def revoke_grant(
    session: AsyncSession, *, grant_id: str, reason: str, actor_id: str | None = None
) -> bool:
    """End a grant: all its tokens stop working (audited with `reason`). Whether it was live."""
    ended = await session.execute(
        update(OAuthGrant)
        .where(OAuthGrant.id == grant_id, OAuthGrant.revoked_at.is_(None))
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    revoked = bool(getattr(ended, "rowcount", 0))
    if revoked:
        await audit.record(
            session,
            kind="grant.revoked",
            actor_id=actor_id,
            subject_type="mcp_grant",
            subject_id=grant_id,
            details={"reason": reason},
        )
    return revoked


@dataclass(frozen=True, kw_only=True)
class CodeExchange:
    """The form of a grant_type=authorization_code token request."""

    code: str | None
    client_id: str | None
    redirect_uri: str | None
    code_verifier: str | None
    resource: str | None


async def exchange_code(
    session: AsyncSession, *, form: CodeExchange, lifetimes: Lifetimes
) -> Issued:
    """Redeem a code for tokens, once, with the verifier of its challenge.

    Raises:
        OAuthRefused: invalid_client, invalid_request, invalid_grant (unknown, expired, replayed
            code, other client, other redirect URI, wrong verifier) or invalid_target.
    """
    client = await _client(session, form.client_id)
    if not form.code or not form.code_verifier:
        raise OAuthRefused("invalid_request", "Send code and code_verifier.")
    found = await session.scalar(
        select(OAuthAuthorization).where(
            OAuthAuthorization.code_hash == api_tokens.digest(form.code)
        )
    )
    if found is None or found.client_id != client.id:
        raise OAuthRefused("invalid_grant", "The code is not valid.")
    if found.used_at is not None:
        if found.grant_id is not None:
            await revoke_grant(session, grant_id=found.grant_id, reason="code_replayed")
        raise OAuthRefused(
            "invalid_grant", "The code was already used; the tokens it gave are revoked."
        )
    _check_redemption(found, form)
    user = await session.get(User, found.user_id or "")
    if user is None or not user.active:
        raise OAuthRefused("invalid_grant", "The user who allowed this can no longer sign in.")
    # Spend the code first: a request redeeming it at the same moment then makes nothing.
    grant_id = new_id()
    used = await session.execute(
        update(OAuthAuthorization)
        .where(OAuthAuthorization.id == found.id, OAuthAuthorization.used_at.is_(None))
        .values(used_at=clock.now(), grant_id=grant_id)
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:
        raise OAuthRefused("invalid_grant", "The code was already used.")
    grant = OAuthGrant(
        id=grant_id,
        user_id=user.id,
        client_id=client.id,
        scope=found.scope,
        resource=found.resource,
    )
    session.add(grant)
    await session.flush()
    await audit.record(
        session,
        kind="grant.created",
        actor_id=user.id,
        subject_type="mcp_grant",
        subject_id=grant.id,
        details={"clientId": client.id, "clientName": client.name, "scope": grant.scope},
    )
    return await _issue(session, grant, lifetimes)


def _check_redemption(found: OAuthAuthorization, form: CodeExchange) -> None:
    """Refuse an expired code, another redirect URI, a wrong verifier or another resource."""
    expires = found.code_expires_at
    if expires is None or clock.as_utc(expires) <= clock.now() or found.user_id is None:
        raise OAuthRefused("invalid_grant", "The code has expired.")
    if form.redirect_uri != found.redirect_uri:
        raise OAuthRefused("invalid_grant", "redirect_uri differs from the authorization's.")
    verifier = form.code_verifier or ""
    if not _VERIFIER.match(verifier) or not secrets.compare_digest(
        s256(verifier), found.code_challenge
    ):
        raise OAuthRefused("invalid_grant", "The code_verifier does not match the challenge.")
    if form.resource is not None and not same_resource(form.resource, found.resource):
        raise OAuthRefused("invalid_target", f"resource must be {found.resource}.")


async def refresh(
    session: AsyncSession,
    *,
    refresh_token: str | None,
    client_id: str | None,
    resource: str | None,
    lifetimes: Lifetimes,
) -> Issued:
    """Rotate a refresh token: new access and refresh tokens, the old refresh token spent.

    Raises:
        OAuthRefused: invalid_client, invalid_request, invalid_grant (unknown, expired,
            revoked or reused refresh token) or invalid_target.
    """
    client = await _client(session, client_id)
    if not refresh_token:
        raise OAuthRefused("invalid_request", "Send refresh_token.")
    row = (
        await session.execute(
            select(OAuthToken, OAuthGrant)
            .join(OAuthGrant, OAuthGrant.id == OAuthToken.grant_id)
            .where(
                OAuthToken.token_hash == api_tokens.digest(refresh_token),
                OAuthToken.kind == "refresh",
            )
        )
    ).first()
    if row is None or row[1].client_id != client.id:
        raise OAuthRefused("invalid_grant", "The refresh token is not valid.")
    token, grant = row
    if token.used_at is not None:
        await revoke_grant(session, grant_id=grant.id, reason="refresh_token_reused")
        raise OAuthRefused(
            "invalid_grant", "The refresh token was already used; its grant is revoked."
        )
    user = await session.get(User, grant.user_id)
    expired = clock.as_utc(token.expires_at) <= clock.now()
    if grant.revoked_at is not None or expired or user is None or not user.active:
        raise OAuthRefused("invalid_grant", "The refresh token is expired or revoked.")
    if resource is not None and not same_resource(resource, grant.resource):
        raise OAuthRefused("invalid_target", f"resource must be {grant.resource}.")
    spent = await session.execute(
        update(OAuthToken)
        .where(OAuthToken.id == token.id, OAuthToken.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if getattr(spent, "rowcount", 0) != 1:
        await revoke_grant(session, grant_id=grant.id, reason="refresh_token_reused")
        raise OAuthRefused("invalid_grant", "The refresh token was already used.")
    return await _issue(session, grant, lifetimes)


async def revoke(session: AsyncSession, *, secret: str, client_id: str | None) -> str | None:
    """RFC 7009: end the grant of an access or refresh token the client holds. Unknown tokens
    and other clients' tokens are ignored (the endpoint answers 200 either way). Returns the
    grant id it revoked, if any."""
    row = (
        await session.execute(
            select(OAuthToken, OAuthGrant)
            .join(OAuthGrant, OAuthGrant.id == OAuthToken.grant_id)
            .where(OAuthToken.token_hash == api_tokens.digest(secret))
        )
    ).first()
    if row is None or (client_id is not None and row[1].client_id != client_id):
        return None
    revoked = await revoke_grant(session, grant_id=row[1].id, reason="client_revoked")
    return row[1].id if revoked else None


async def resolve_access(session: AsyncSession, *, secret: str) -> Resolved | None:
    """The live grant and active user an access token belongs to, or None."""
    if not is_access_token(secret):
        return None
    row = (
        await session.execute(
            select(OAuthToken, OAuthGrant, User)
            .join(OAuthGrant, OAuthGrant.id == OAuthToken.grant_id)
            .join(User, User.id == OAuthGrant.user_id)
            .where(
                OAuthToken.token_hash == api_tokens.digest(secret),
                OAuthToken.kind == "access",
            )
        )
    ).first()
    if row is None:
        return None
    token, grant, user = row
    expires = clock.as_utc(token.expires_at)
    if grant.revoked_at is not None or expires <= clock.now() or not user.active:
        return None
    return Resolved(grant, user, int(expires.timestamp()))
