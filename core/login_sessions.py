"""Browser login sessions, kept in the database so every worker shares them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, clock
from core.api_tokens import digest
from core.errors import NotFound
from core.models import BUMP_AUTH_EPOCH, LoginSession, User


class LoginSessionNotFound(NotFound):
    """You have no session with that id (it may have ended)."""

    code = "login_session_not_found"


@dataclass(frozen=True)
class OpenedSession:
    """A session just opened: the row and the cookie secret."""

    session: LoginSession
    secret: str


async def open_session(session: AsyncSession, *, user: User, ttl: timedelta) -> OpenedSession:
    """Start a login session for a user (remembering the request's address and user agent)."""
    secret = secrets.token_urlsafe(32)
    where = audit.origin.get() or audit.Origin()
    row = LoginSession(
        user_id=user.id,
        secret_hash=digest(secret),
        csrf_token=secrets.token_urlsafe(24),
        expires_at=clock.now() + ttl,
        ip=where.ip[:64] if where.ip else None,
        user_agent=where.user_agent[:500] if where.user_agent else None,
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


def is_current(row: LoginSession, secret: str | None) -> bool:
    """Whether `row` is the session of the cookie secret `secret`."""
    return secret is not None and row.secret_hash == digest(secret)


async def list_live(session: AsyncSession, *, user_id: str) -> list[LoginSession]:
    """A user's sessions that have not expired, newest first."""
    rows = await session.scalars(
        select(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.expires_at > clock.now())
        .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())
    )
    return list(rows)


async def end(session: AsyncSession, *, user_id: str, session_id: str) -> None:
    """End one of a user's sessions; every worker refuses it from its next request.

    Raises:
        LoginSessionNotFound: the user has no session with that id.
    """
    gone = await session.execute(
        delete(LoginSession).where(LoginSession.id == session_id, LoginSession.user_id == user_id)
    )
    if not getattr(gone, "rowcount", 0):
        raise LoginSessionNotFound(session_id=session_id)
    await session.execute(BUMP_AUTH_EPOCH)
    await _audit(session, user_id, {"sessionId": session_id})


async def end_others(session: AsyncSession, *, user_id: str, keep_secret: str | None) -> int:
    """End every session of a user's but the one of `keep_secret` (all when None); returns how
    many ended."""
    stmt = delete(LoginSession).where(LoginSession.user_id == user_id)
    if keep_secret is not None:
        stmt = stmt.where(LoginSession.secret_hash != digest(keep_secret))
    ended = int(getattr(await session.execute(stmt), "rowcount", 0) or 0)
    if ended:
        await session.execute(BUMP_AUTH_EPOCH)
        await _audit(session, user_id, {"ended": ended, "keptCurrent": keep_secret is not None})
    return ended


async def _audit(session: AsyncSession, user_id: str, details: dict[str, object]) -> None:
    await audit.record(
        session,
        kind="session.ended",
        actor_id=user_id,
        subject_type="user",
        subject_id=user_id,
        details=details,
    )
