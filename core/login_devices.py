"""Browsers that logged in to an account before ("device cookies", as OWASP advises).

A successful login gives the browser a long-lived random secret; its logins to that account are
then throttled on their own counter (`core.login_throttle`). The secret authenticates nothing: it
only spares a known browser the lockout that strangers' failures put on the account.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.api_tokens import digest
from core.models import LoginDevice

# The newest devices kept per user; older ones are forgotten as new ones log in.
MAX_DEVICES = 20


async def recognise(session: AsyncSession, *, secret: str | None, user_id: str) -> str | None:
    """The id of the user's device whose cookie secret this is, or None."""
    if not secret:
        return None
    return await session.scalar(
        select(LoginDevice.id).where(
            LoginDevice.secret_hash == digest(secret), LoginDevice.user_id == user_id
        )
    )


async def remember(session: AsyncSession, *, user_id: str) -> str:
    """Record a new device of the user's; returns the secret for its cookie."""
    secret = secrets.token_urlsafe(32)
    session.add(LoginDevice(user_id=user_id, secret_hash=digest(secret)))
    await session.flush()
    newest = (
        select(LoginDevice.id)
        .where(LoginDevice.user_id == user_id)
        .order_by(LoginDevice.created_at.desc(), LoginDevice.id.desc())
        .limit(MAX_DEVICES)
    )
    kept = list(await session.scalars(newest))
    await session.execute(
        delete(LoginDevice).where(LoginDevice.user_id == user_id, LoginDevice.id.not_in(kept))
    )
    return secret


async def forget_all(session: AsyncSession, *, user_id: str) -> None:
    """Forget every device of the user's (their password changed)."""
    await session.execute(delete(LoginDevice).where(LoginDevice.user_id == user_id))
