"""API tokens: random secrets shown once, stored as hashes, with a visible prefix, revocable."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, clock
from core.errors import ApiTokenNotFound, InvalidInput
from core.listing import Page, PageRequest, paginate
from core.models import ApiToken, User

TOKEN_PREFIX = "sb_"


@dataclass(frozen=True)
class IssuedToken:
    """A token just made: the row, and the secret the user sees this one time."""

    token: ApiToken
    secret: str


def digest(secret: str) -> str:
    """The stored form of a secret (tokens are long and random, so a plain SHA-256 is enough)."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def issue(
    session: AsyncSession, *, user: User, name: str, expires_at: datetime | None
) -> IssuedToken:
    """Make a token for a user.

    Raises:
        InvalidInput: the expiry is in the past.
    """
    if expires_at is not None and clock.as_utc(expires_at) <= clock.now():
        raise InvalidInput("The expiry must be in the future.", field="expiresAt")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=secret[:10],
        token_hash=digest(secret),
        expires_at=expires_at,
    )
    session.add(token)
    await session.flush()
    expiry = expires_at.isoformat() if expires_at else None
    details = {"name": name, "prefix": token.prefix, "expiresAt": expiry}
    await audit.record(
        session,
        kind="token.created",
        actor_id=user.id,
        subject_type="api_token",
        subject_id=token.id,
        details=details,
    )
    return IssuedToken(token, secret)


async def list_page(session: AsyncSession, *, user: User, page: PageRequest) -> Page[ApiToken]:
    """A user's tokens."""
    return await paginate(
        session,
        select(ApiToken).where(ApiToken.user_id == user.id),
        page,
        sortable={"createdAt": ApiToken.created_at, "name": ApiToken.name},
        searchable=(ApiToken.name,),
    )


async def revoke(session: AsyncSession, *, user: User, token_id: str) -> None:
    """Revoke one of a user's tokens; it stops working at once.

    Raises:
        ApiTokenNotFound: the user has no such token.
    """
    token = await session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise ApiTokenNotFound(token_id=token_id)
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        await audit.record(
            session,
            kind="token.revoked",
            actor_id=user.id,
            subject_type="api_token",
            subject_id=token.id,
            details={"name": token.name, "prefix": token.prefix},
        )
    await session.flush()


async def resolve(session: AsyncSession, *, secret: str) -> tuple[ApiToken, User] | None:
    """The live token and active user a secret belongs to, or None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == digest(secret))
        )
    ).first()
    if row is None:
        return None
    token, user = row
    now = clock.now()
    expired = token.expires_at is not None and clock.as_utc(token.expires_at) <= now
    if token.revoked_at is not None or expired or not user.active:
        return None
    return token, user


def needs_touch(token: ApiToken) -> bool:
    """Whether a token's last use is older than a minute (so recording it is worth a write)."""
    last = token.last_used_at
    return last is None or (clock.now() - clock.as_utc(last)).total_seconds() > 60


async def touch(session: AsyncSession, *, token_id: str) -> None:
    """Record that a token was used now."""
    await session.execute(
        update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=clock.now())
    )
