"""What your uploaded files take against your storage limit, and (admins) any user's, and the
limit an admin sets for one user."""

from __future__ import annotations

from api.deps import AdminUser, CurrentUser, PageDep, ServicesDep, SessionDep
from api.hal import (
    Collection,
    Resource,
    api_router,
    collection,
    collection_of,
    resource,
    resource_of,
)
from api.routes.users import ManagedUserDep
from assistant import storage_quota
from assistant.storage_quota import StorageUsage
from assistant.storage_schemas import StorageLimitWrite, StorageListed, StorageRead
from core import audit, users
from core.models import User

router = api_router(prefix="/api/users", tags=["Storage"])


def storage_read(user_id: str, usage: StorageUsage) -> StorageRead:
    """A user's storage usage as the API shows it."""
    return StorageRead(
        user_id=user_id,
        used_bytes=usage.used_bytes,
        limit_bytes=usage.limit_bytes,
        remaining_bytes=usage.remaining_bytes,
        own_limit_bytes=usage.own_limit_bytes,
        attachment_bytes=usage.attachment_bytes,
        library_bytes=usage.library_bytes,
    )


async def storage_body(
    session: SessionDep, services: ServicesDep, user_id: str, href: str
) -> Resource[StorageRead]:
    """A user's storage usage as a HAL resource."""
    default = services.settings.max_storage_bytes_per_user
    usage = await storage_quota.usage(session, user_id=user_id, default_limit=default)
    return resource(storage_read(user_id, usage), href)


@router.get("/storage", response_model=collection_of("storage", StorageListed))
async def users_storage(
    _: AdminUser, session: SessionDep, services: ServicesDep, page: PageDep
) -> Collection[Resource[StorageListed]]:
    """Every user's storage as `GET /api/users/{userId}/storage` shows it, with their
    `username`, paged, searched and sorted as `GET /api/users` is (admins only)."""
    found = await users.list_page(session, page=page)
    default = services.settings.max_storage_bytes_per_user
    usages = await storage_quota.usages(session, users=found.items, default_limit=default)

    def listed(user: User) -> Resource[StorageListed]:
        read = storage_read(user.id, usages[user.id])
        shown = StorageListed(**read.model_dump(), username=user.username)
        return resource(shown, f"/api/users/{user.id}/storage", user=f"/api/users/{user.id}")

    return collection(
        "storage", "/api/users/storage", found, listed, {"q": page.q, "sort": page.sort}
    )


@router.get("/me/storage", response_model=resource_of(StorageRead))
async def my_storage(
    user: CurrentUser, session: SessionDep, services: ServicesDep
) -> Resource[StorageRead]:
    """What your files take, in bytes: `usedBytes` of `limitBytes` (`remainingBytes` left; both
    null when there is no limit), split into your chats' attachments (`attachmentBytes`) and
    library files (`libraryBytes`: your own library's, your assistants' included, and those you
    uploaded to your teams'). A content stored once counts once: the same file twice in your
    library, or twice in one chat, counts once; in two chats it is stored, and counted, twice.
    An upload that would go over the limit is refused with 413 `storage_quota_exceeded`;
    deleting files frees their bytes at once. `ownLimitBytes` is the limit an admin set for you
    (null: the instance's default applies)."""
    return await storage_body(session, services, user.id, "/api/users/me/storage")


@router.get("/{user_id}/storage", response_model=resource_of(StorageRead))
async def user_storage(
    user: ManagedUserDep, _: AdminUser, session: SessionDep, services: ServicesDep
) -> Resource[StorageRead]:
    """What a user's files take against their storage limit, as `GET /api/users/me/storage`
    shows it to them (admins only)."""
    return await storage_body(session, services, user.id, f"/api/users/{user.id}/storage")


@router.put("/{user_id}/storage", response_model=resource_of(StorageRead))
async def set_user_storage_limit(
    user: ManagedUserDep,
    body: StorageLimitWrite,
    admin: AdminUser,
    session: SessionDep,
    services: ServicesDep,
) -> Resource[StorageRead]:
    """Set one user's storage limit (admins only): `{"limitBytes": N}` in bytes, `0` for no
    limit, `null` to go back to `SWITCHBOARD_MAX_STORAGE_BYTES_PER_USER`. Files already stored
    stay when the limit is lowered below them; their next upload is refused until they delete
    enough. Recorded in the audit log (`user.storage_limit_changed`)."""
    before = user.storage_limit_bytes
    user.storage_limit_bytes = body.limit_bytes
    await audit.record(
        session,
        kind="user.storage_limit_changed",
        actor_id=admin.id,
        subject_type="user",
        subject_id=user.id,
        details={"username": user.username, "from": before, "to": body.limit_bytes},
    )
    return await storage_body(session, services, user.id, f"/api/users/{user.id}/storage")
