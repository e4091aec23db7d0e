"""Browser login sessions, kept in the database so every worker shares them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.api_tokens import digest
from core.models import BUMP_AUTH_EPOCH, LoginSession, User


@dataclass(frozen=True)
class OpenedSession:
    """A session just opened: the row and the cookie secret."""

    session: LoginSession
    secret: str


async def open_session(session: AsyncSession, *, user: User, ttl: timedelta) -> OpenedSession:
    """Start a login session for a user."""
    secret = secrets.token_urlsafe(32)
    row = LoginSession(
        user_id=user.id,
        secret_hash=digest(secret),
        csrf_token=secrets.token_urlsafe(24),
        expires_at=clock.now() + ttl,
    )
    session.add(row)
    await session.flush()
    return OpenedSession(row, secret)


async def resolve(session: AsyncSession, *, secret: str) -> tuple[LoginSession, User] | None:
    """The live session and active user of a cookie secret, or None."""
    row = (
        await session.execute(
            select(LoginSession, User)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.secret_hash == digest(secret))
        )
    ).first()
    if row is None:
        return None
    login, user = row
    if clock.as_utc(login.expires_at) <= clock.now() or not user.active:
        return None
    return login, user


async def close(session: AsyncSession, *, secret: str) -> None:
    """End the session of a cookie secret (no error if there is none); every worker refuses it
    from the next request (the identity epoch moves, see `core.auth_epoch`)."""
    await session.execute(delete(LoginSession).where(LoginSession.secret_hash == digest(secret)))
    await session.execute(BUMP_AUTH_EPOCH)
    await session.flush()
