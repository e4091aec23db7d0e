"""What your uploaded files take against your storage limit, and (admins) any user's."""

from __future__ import annotations

from api.deps import AdminUser, CurrentUser, ServicesDep, SessionDep
from api.hal import Resource, api_router, resource, resource_of
from api.routes.users import ManagedUserDep
from assistant import storage_quota
from assistant.schemas import StorageRead

router = api_router(prefix="/api/users", tags=["Storage"])


async def storage_body(
    session: SessionDep, services: ServicesDep, user_id: str, href: str
) -> Resource[StorageRead]:
    """A user's storage usage as a HAL resource."""
    limit = services.settings.max_storage_bytes_per_user
    usage = await storage_quota.usage(session, user_id=user_id, limit=limit)
    read = StorageRead(
        user_id=user_id,
        used_bytes=usage.used_bytes,
        limit_bytes=usage.limit_bytes,
        remaining_bytes=usage.remaining_bytes,
        attachment_bytes=usage.attachment_bytes,
        library_bytes=usage.library_bytes,
    )
    return resource(read, href)


@router.get("/me/storage", response_model=resource_of(StorageRead))
async def my_storage(
    user: CurrentUser, session: SessionDep, services: ServicesDep
) -> Resource[StorageRead]:
    """What your files take, in bytes: `usedBytes` of `limitBytes` (`remainingBytes` left),
    split into your chats' attachments (`attachmentBytes`) and library files (`libraryBytes`:
    your own library's, your assistants' included, and those you uploaded to your teams').
    An upload that would go over the limit is refused with 413 `storage_quota_exceeded`;
    deleting files frees their bytes at once."""
    return await storage_body(session, services, user.id, "/api/users/me/storage")


@router.get("/{user_id}/storage", response_model=resource_of(StorageRead))
async def user_storage(
    user: ManagedUserDep, _: AdminUser, session: SessionDep, services: ServicesDep
) -> Resource[StorageRead]:
    """What a user's files take against their storage limit, as `GET /api/users/me/storage`
    shows it to them (admins only)."""
    return await storage_body(session, services, user.id, f"/api/users/{user.id}/storage")
