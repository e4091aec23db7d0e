"""What a user's files take against their storage limit, and an admin's limit for one user
(`assistant.storage_quota`)."""

from __future__ import annotations

from pydantic import Field

from core.schemas import Schema


class StorageRead(Schema):
    """What a user's files take against their storage limit, in bytes: their chats'
    attachments, their own library's files and those they uploaded to their teams' libraries."""

    user_id: str
    used_bytes: int
    limit_bytes: int | None  # None: no limit
    remaining_bytes: int | None
    # The user's own limit set by an admin (0: none), or None: the instance's default applies.
    own_limit_bytes: int | None
    attachment_bytes: int
    library_bytes: int


class StorageListed(StorageRead):
    """A user's storage in the admins' list (GET /api/users/storage), with their username."""

    username: str


class StorageLimitWrite(Schema):
    """An admin's limit for one user (PUT /api/users/{id}/storage): `limitBytes` in bytes, 0 for
    no limit, null to go back to the instance's default."""

    limit_bytes: int | None = Field(ge=0, le=2**62)
