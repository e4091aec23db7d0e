"""A user's storage quota: what their chat attachments and library files take, bounded.

Counted from the rows' recorded sizes: the attachments of the user's chats, the files of their
own library (uploaded there or to one of their assistants, by anyone, or mirrored by their jobs)
and the files they uploaded to the libraries of the teams they belong to: the files they can
delete, so deleting one frees its bytes at once (after leaving a team, what they left there is
the team's). Each sum goes through an index (chats by user, attachments by chat, files by owner
or team). Two uploads of one user must not both pass the check and together go over: on
PostgreSQL the check takes a transaction-scoped advisory lock of the user's (a key of its own,
held until the upload commits or rolls back), so the second waits and then counts the first's
rows. Before that lock it takes a key share of the user's row, the first lock of the chats'
lock order (`assistant.chat.lock_order`: a user's row, their count lock, chats' rows, the rest):
an attachment's insert checks its chat's row and its user's in whichever order its foreign-key
triggers fire, and a removal of the user taking their row between the two would wait for that
chat while the upload waited for the user. On SQLite the request's write transaction (BEGIN
IMMEDIATE) already serialises them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.attachments.models import ChatAttachment
from assistant.errors import StorageQuotaExceeded
from assistant.models import Chat
from core.models import TeamMembership, User
from knowledge.models import LibraryFile

# The advisory locks' first key ("storage quota"); the second is the user id's hashtext.
QUOTA_KEY = 20261206
_LOCK = text(f"SELECT pg_advisory_xact_lock({QUOTA_KEY}, hashtext(:user_id))")
_KEY_SHARE = select(User.id).with_for_update(read=True, key_share=True)


@dataclass(frozen=True, kw_only=True)
class StorageUsage:
    """The bytes a user's files take, by kind, and their limit."""

    attachment_bytes: int
    library_bytes: int
    limit_bytes: int

    @property
    def used_bytes(self) -> int:
        """Attachments and library files together."""
        return self.attachment_bytes + self.library_bytes

    @property
    def remaining_bytes(self) -> int:
        """What the user may still upload (0 once over the limit, as after it was lowered)."""
        return max(0, self.limit_bytes - self.used_bytes)


async def usage(session: AsyncSession, *, user_id: str, limit: int) -> StorageUsage:
    """What the user's attachments and library files take, in one statement (three sums, each
    through an index: an OR of them would read the whole file table)."""
    chats = select(Chat.id).where(Chat.user_id == user_id)
    teams = select(TeamMembership.team_id).where(TeamMembership.user_id == user_id)
    sums = [
        select(func.coalesce(func.sum(ChatAttachment.size), 0))
        .where(ChatAttachment.chat_id.in_(chats))
        .scalar_subquery(),
        select(func.coalesce(func.sum(LibraryFile.size), 0))
        .where(LibraryFile.owner_user_id == user_id)
        .scalar_subquery(),
        select(func.coalesce(func.sum(LibraryFile.size), 0))
        .where(LibraryFile.team_id.in_(teams), LibraryFile.created_by == user_id)
        .scalar_subquery(),
    ]
    attachments, own, in_teams = (await session.execute(select(*sums))).one()
    return StorageUsage(
        attachment_bytes=int(attachments), library_bytes=int(own) + int(in_teams), limit_bytes=limit
    )


async def admit(session: AsyncSession, *, user_id: str, adding: int, limit: int) -> StorageUsage:
    """Check that `adding` more bytes fit the user's quota, holding their quota lock until the
    transaction ends (store the files in the same transaction).

    Raises:
        StorageQuotaExceeded: the files already stored plus `adding` would pass `limit`.
    """
    if session.get_bind().dialect.name == "postgresql":
        # The user's row before any chat's, in the chats' lock order (see the module's text).
        await session.execute(_KEY_SHARE.where(User.id == user_id))
        await session.execute(_LOCK, {"user_id": user_id})
    now = await usage(session, user_id=user_id, limit=limit)
    before = now.used_bytes
    if before + adding > limit:
        raise StorageQuotaExceeded(
            f"These files ({_shown(adding)}) would take your stored files over your limit of "
            f"{_shown(limit)}: they take {_shown(before)} now. Delete chat attachments or "
            "library files you no longer need, or ask an admin to raise the limit.",
            used=before,
            upload=adding,
            limit=limit,
        )
    return now


def _shown(size: int) -> str:
    """A byte count for a person: `512 bytes`, `1.5 MiB`, `1 GiB`."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"
