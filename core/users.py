"""Users: create, find, update, deactivate, authenticate."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidCredentials, LastAdmin, UsernameTaken, UserNotFound
from core.listing import Page, PageRequest, paginate
from core.models import User
from core.passwords import hash_password, verify_password
from core.schemas import UserCreate, UserUpdate


async def create(session: AsyncSession, *, data: UserCreate) -> User:
    """Add a user.

    Raises:
        UsernameTaken: another user has that username.
    """
    if await find_by_username(session, username=data.username) is not None:
        raise UsernameTaken(username=data.username)
    user = User(
        username=data.username,
        display_name=data.display_name or data.username,
        email=data.email,
        role=data.role,
        password_hash=hash_password(data.password),
    )
    try:
        async with session.begin_nested():  # a racing create with the same name
            session.add(user)
    except IntegrityError:
        raise UsernameTaken(username=data.username) from None
    return user


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


async def update(session: AsyncSession, *, user: User, data: UserUpdate) -> User:
    """Change a user's fields.

    Raises:
        LastAdmin: the change would leave no active admin.
    """
    demoting = (data.role == "member" or data.active is False) and user.is_admin
    if demoting and await _active_admins(session) <= 1:
        raise LastAdmin()
    if data.password is not None:
        user.password_hash = hash_password(data.password)
    for field in ("display_name", "email", "role", "active"):
        value = getattr(data, field)
        if value is not None:
            setattr(user, field, value)
    await session.flush()
    return user


async def delete(session: AsyncSession, *, user: User) -> None:
    """Remove a user and what cascades with them.

    Raises:
        LastAdmin: the user is the last active admin.
    """
    if user.is_admin and user.active and await _active_admins(session) <= 1:
        raise LastAdmin()
    await session.delete(user)
    await session.flush()


async def authenticate(session: AsyncSession, *, username: str, password: str) -> User:
    """The active user with these credentials.

    Raises:
        InvalidCredentials: no active user matches.
    """
    user = await find_by_username(session, username=username)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        raise InvalidCredentials()
    user.last_login_at = clock.now()
    await session.flush()
    return user


async def _active_admins(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True))
    return int(await session.scalar(stmt) or 0)
