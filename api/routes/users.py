"""Users (admins only)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Response

from api.deps import AdminUser, PageDep, ServicesDep, SessionDep
from api.hal import Collection, Resource, api_router, collection, collection_of, resource
from api.responses import UserResource
from api.routes.auth import user_body
from assistant.attachments import files as attachment_files
from assistant.chat import lock_order
from core import users
from core.models import User
from core.schemas import UserCreate, UserListed, UserRead, UserUpdate

router = api_router(prefix="/api/users", tags=["Users"])


async def managed_user(user_id: str, _: AdminUser, session: SessionDep) -> User:
    """The user named by the `user_id` path parameter, for an admin (403 for anyone else, then
    404 `user_not_found`)."""
    return await users.get(session, user_id=user_id)


ManagedUserDep = Annotated[User, Depends(managed_user)]


@router.get("", response_model=collection_of("users", UserListed))
async def list_users(
    _: AdminUser, session: SessionDep, page: PageDep
) -> Collection[Resource[UserListed]]:
    """Every user, searchable by username and name (`q`), with when and how each last signed
    in (`lastSignInAt`, `lastSignInMethod`: `password`, `oidc` or `token`, the latest of their
    sign-ins and their API tokens' use)."""
    result = await users.list_page(session, page=page)
    last = await users.last_sign_ins(session, users=result.items)

    def listed(user: User) -> Resource[UserListed]:
        at, method = last.get(user.id, (None, None))
        update = {"last_sign_in_at": at, "last_sign_in_method": method}
        return resource(
            UserListed.model_validate(user).model_copy(update=update), f"/api/users/{user.id}"
        )

    return collection("users", "/api/users", result, listed, {"q": page.q, "sort": page.sort})


@router.post("", status_code=201, response_model=UserResource)
async def create_user(
    body: UserCreate, admin: AdminUser, session: SessionDep
) -> Resource[UserRead]:
    """Add a user."""
    return user_body(await users.create(session, data=body, actor_id=admin.id))


@router.get("/{user_id}", response_model=UserResource)
async def get_user(user: ManagedUserDep, _: AdminUser) -> Resource[UserRead]:
    """One user."""
    return user_body(user)


@router.patch("/{user_id}", response_model=UserResource)
async def update_user(
    user: ManagedUserDep, body: UserUpdate, admin: AdminUser, session: SessionDep
) -> Resource[UserRead]:
    """Change a user's name, email, role, password or whether they may log in.

    A new password (which must meet the password policy, else 422 `password_too_short`,
    `password_too_common` or `password_has_control_characters`) ends all the user's sessions and,
    unless `keepApiTokens` is true, revokes all their API tokens, on every worker at once.
    """
    return user_body(await users.update(session, user=user, data=body, actor_id=admin.id))


@router.delete("/{user_id}", status_code=204)
async def delete_user(
    user: ManagedUserDep, admin: AdminUser, session: SessionDep, services: ServicesDep
) -> Response:
    """Remove a user, with their chats (their attachments' files too) and tokens."""
    with_files = await attachment_files.chats_with_files(session, user_id=user.id)
    await lock_order.lock_removal(session, user_id=user.id)  # in the chats' one lock order
    await users.delete(session, user=user, actor_id=admin.id)
    await session.commit()
    storage = services.chat.attachments
    if storage is not None:
        for chat_id in with_files:
            await asyncio.to_thread(storage.forget_chat, chat_id)
    return Response(status_code=204)
