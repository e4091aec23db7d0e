"""Users: create, find, update, deactivate, change passwords (logging in is `core.logins`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, clock, login_devices, passwords, teams, webhook_subscriptions
from core.errors import LastAdmin, UsernameTaken, UserNotFound
from core.ids import new_id
from core.listing import Page, PageRequest, paginate
from core.mcp_oauth import grants as mcp_grants
from core.models import BUMP_AUTH_EPOCH, ApiToken, LoginSession, User
from core.schemas import UserCreate, UserUpdate


async def create(session: AsyncSession, *, data: UserCreate, actor_id: str | None = None) -> User:
    """Add a user, a member of the Everyone team (`actor_id`: the admin who did it).

    Raises:
        UsernameTaken: another user has that username.
        WeakPassword: the password does not meet `core.password_policy`.
    """
    if await find_by_username(session, username=data.username) is not None:
        raise UsernameTaken(username=data.username)
    user = User(
        username=data.username,
        display_name=data.display_name or data.username,
        email=data.email,
        role=data.role,
        password_hash=await passwords.hash_new(data.password, username=data.username),
    )
    try:
        async with session.begin_nested():  # a racing create with the same name
            session.add(user)
    except IntegrityError:
        raise UsernameTaken(username=data.username) from None
    await teams.join_everyone(session, user=user)
    await webhook_subscriptions.emit(session, event="user_created", body=_event(user, "created"))
    await _audit(session, "user.created", user, actor_id, {"role": user.role})
    return user


async def _audit(
    session: AsyncSession, kind: str, user: User, actor_id: str | None, details: Mapping[str, Any]
) -> None:
    await audit.record(
        session,
        kind=kind,
        actor_id=actor_id,
        subject_type="user",
        subject_id=user.id,
        details={"username": user.username, **details},
    )


def _event(user: User, what: str) -> dict[str, Any]:
    """The body of a `user_created` / `user_deactivated` webhook."""
    return {
        "type": f"user_{what}",
        "id": new_id(),
        "userId": user.id,
        "username": user.username,
        "role": user.role,
        "createdAt": clock.now().isoformat(),
    }


async def find_by_username(session: AsyncSession, *, username: str) -> User | None:
    """The user with a username (case-insensitive), if any."""
    return await session.scalar(select(User).where(func.lower(User.username) == username.lower()))


async def get(session: AsyncSession, *, user_id: str) -> User:
    """A user by id.

    Raises:
        UserNotFound: no user has that id.
    """
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound(user_id=user_id)
    return user


async def count(session: AsyncSession) -> int:
    """How many users exist."""
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def list_page(session: AsyncSession, *, page: PageRequest) -> Page[User]:
    """Users, searchable by username and display name."""
    return await paginate(
        session,
        select(User),
        page,
        sortable={"createdAt": User.created_at, "username": User.username},
        searchable=(User.username, User.display_name),
        default_sort="username",
    )


async def last_sign_ins(
    session: AsyncSession, *, users: Sequence[User]
) -> dict[str, tuple[datetime, str]]:
    """When and how each user last signed in: their last login (`password`, `oidc`) or their
    API tokens' last use (`token`), whichever is later; users who never did are left out."""
    ids = [u.id for u in users]
    used = await session.execute(
        select(ApiToken.user_id, func.max(ApiToken.last_used_at))
        .where(ApiToken.user_id.in_(ids), ApiToken.last_used_at.is_not(None))
        .group_by(ApiToken.user_id)
    )
    found: dict[str, tuple[datetime, str]] = {
        user_id: (clock.as_utc(at), "token") for user_id, at in used if at is not None
    }
    for user in users:
        if user.last_login_at is None:
            continue
        at = clock.as_utc(user.last_login_at)
        if user.id not in found or found[user.id][0] < at:
            found[user.id] = (at, user.last_login_method or "password")
    return found


async def update(
    session: AsyncSession, *, user: User, data: UserUpdate, actor_id: str | None = None
) -> User:
    """Change a user's fields; a new password ends their sessions and, unless
    `data.keep_api_tokens`, revokes their API tokens (`change_password`). Role, activation and
    password changes go to the audit log as done by `actor_id`.

    Raises:
        LastAdmin: the change would leave no active admin.
        WeakPassword: the new password does not meet `core.password_policy`.
    """
    demoting = (data.role == "member" or data.active is False) and user.is_admin
    if demoting and await _active_admins(session) <= 1:
        raise LastAdmin()
    if data.password is not None:
        password_hash = await passwords.hash_new(data.password, username=user.username)
        await change_password(
            session, user=user, password_hash=password_hash, keep_api_tokens=data.keep_api_tokens
        )
        details = {"keepApiTokens": data.keep_api_tokens}
        await _audit(session, "password.reset", user, actor_id, details)
    deactivating = data.active is False and user.active
    before = (user.role, user.active)
    for field in ("display_name", "email", "role", "active"):
        value = getattr(data, field)
        if value is not None:
            setattr(user, field, value)
    await session.flush()
    if user.role != before[0]:
        change = {"from": before[0], "to": user.role}
        await _audit(session, "user.role_changed", user, actor_id, change)
    if user.active != before[1]:
        kind = "user.activated" if user.active else "user.deactivated"
        await _audit(session, kind, user, actor_id, {})
    if deactivating:
        body = _event(user, "deactivated")
        await webhook_subscriptions.emit(session, event="user_deactivated", body=body)
    return user


async def delete(session: AsyncSession, *, user: User, actor_id: str | None = None) -> None:
    """Remove a user and what cascades with them (the audit log keeps their events).

    Raises:
        LastAdmin: the user is the last active admin.
    """
    if user.is_admin and user.active and await _active_admins(session) <= 1:
        raise LastAdmin()
    await _audit(session, "user.deleted", user, actor_id, {})
    await session.delete(user)
    await session.flush()


async def change_password(
    session: AsyncSession, *, user: User, password_hash: str, keep_api_tokens: bool = False
) -> None:
    """Give a user a new password hash (from `passwords.hash_new`) and end what the old password
    opened: every login session, every known device and, unless `keep_api_tokens`, every API
    token and MCP client grant. Every worker refuses them from its next request (the identity
    epoch moves, in this transaction: see `core.auth_epoch`; grants are read on every request)."""
    user.password_hash = password_hash
    await session.execute(sql_delete(LoginSession).where(LoginSession.user_id == user.id))
    await login_devices.forget_all(session, user_id=user.id)
    if not keep_api_tokens:
        live = (ApiToken.user_id == user.id) & ApiToken.revoked_at.is_(None)
        await session.execute(sql_update(ApiToken).where(live).values(revoked_at=clock.now()))
        await mcp_grants.revoke_all(session, user_id=user.id, reason="password_changed")
    await session.execute(BUMP_AUTH_EPOCH)  # bulk statements pass by the ORM's flush hook
    await session.flush()


async def _active_admins(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True))
    return int(await session.scalar(stmt) or 0)
