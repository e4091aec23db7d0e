"""A user's storage quota: what their chat attachments and library files take, bounded.

Counted from the rows' recorded sizes as the bytes lie on disk: library files are stored once
per content (`knowledge.storage` keys them by SHA-256), so a user's library files of the same
content count once; an attachment's bytes are stored once per chat (`<root>/<chat id>/<sha256>`),
so the same content attached in two chats (or copied by a branch) counts twice, as it takes twice
the space. A user's library files are those of their own library (uploaded there or to one of
their assistants, by anyone, or mirrored by a library sync) and those they uploaded to the
libraries of the teams they belong to: the files they can delete, so deleting one frees its bytes
at once (after leaving a team, what they left there is the team's). Each sum goes through an
index (chats by user, attachments by chat, files by owner, files by team and uploader).

The limit is `SWITCHBOARD_MAX_STORAGE_BYTES_PER_USER`, unless an admin set the user's own
(`core_user.storage_limit_bytes`); 0 means no limit (nothing is counted or locked then).

Two uploads of one user must not both pass the check and together go over: on PostgreSQL the
check takes a transaction-scoped advisory lock of the user's (a key of its own, held until the
upload commits or rolls back), so the second waits and then counts the first's rows. Before that
lock it takes a key share of the user's row, the first lock of the chats' lock order
(`assistant.chat.lock_order`: a user's row, their count lock, chats' rows, the rest): an
attachment's insert checks its chat's row and its user's in whichever order its foreign-key
triggers fire, and a removal of the user taking their row between the two would wait for that
chat while the upload waited for the user. On SQLite the request's write transaction (BEGIN
IMMEDIATE) already serialises them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select, text, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from assistant.attachments.models import ChatAttachment
from assistant.errors import StorageQuotaExceeded
from assistant.models import Chat
from core.byte_counts import shown
from core.models import TeamMembership, User
from knowledge.models import LibraryFile

NO_LIMIT = 0
# The advisory locks' first key ("storage quota"); the second is the user id's hashtext.
QUOTA_KEY = 20261206
_LOCK = text(f"SELECT pg_advisory_xact_lock({QUOTA_KEY}, hashtext(:user_id))")


@dataclass(frozen=True, kw_only=True)
class StorageUsage:
    """The bytes a user's files take, by kind, and their limit (None: no limit), with the
    limit an admin set for them (`own_limit_bytes`; None: the default applies)."""

    attachment_bytes: int
    library_bytes: int
    limit_bytes: int | None
    own_limit_bytes: int | None = None

    @property
    def used_bytes(self) -> int:
        """Attachments and library files together."""
        return self.attachment_bytes + self.library_bytes

    @property
    def remaining_bytes(self) -> int | None:
        """What the user may still store (0 once over the limit, as after it was lowered)."""
        return None if self.limit_bytes is None else max(0, self.limit_bytes - self.used_bytes)


@dataclass(frozen=True, kw_only=True)
class NewFiles:
    """Files about to be stored for a user: each content's size by key (SHA-256), as library
    files or as attachments of one chat (`chat_id`)."""

    sizes: Mapping[str, int]
    chat_id: str | None = None


def limit_of(default: int, own: int | None) -> int | None:
    """The limit that applies: the user's own if an admin set one, else the setting; None for
    no limit (0)."""
    chosen = default if own is None else own
    return None if chosen == NO_LIMIT else chosen


def library_keys(user_id: str) -> Select[str, int]:
    """The user's library files' distinct contents (key, size): their own library's and what
    they uploaded to their teams' (a UNION of two index scans; an OR would read the table)."""
    teams = select(TeamMembership.team_id).where(TeamMembership.user_id == user_id)
    own = select(LibraryFile.storage_key, LibraryFile.size).where(
        LibraryFile.owner_user_id == user_id
    )
    in_teams = select(LibraryFile.storage_key, LibraryFile.size).where(
        LibraryFile.team_id.in_(teams), LibraryFile.created_by == user_id
    )
    return select(union(own, in_teams).subquery())


def usage_statement(user_id: str) -> Select[int, int, int | None]:
    """The user's attachment bytes and library bytes (two sums, each over distinct contents as
    they are stored) and their own limit, in one statement."""
    chats = select(Chat.id).where(Chat.user_id == user_id)
    stored = (
        select(ChatAttachment.chat_id, ChatAttachment.storage_key, ChatAttachment.size)
        .where(ChatAttachment.chat_id.in_(chats))
        .distinct()
        .subquery()
    )
    library = library_keys(user_id).subquery()
    return select(
        select(func.coalesce(func.sum(stored.c.size), 0)).scalar_subquery(),
        select(func.coalesce(func.sum(library.c.size), 0)).scalar_subquery(),
        select(User.storage_limit_bytes).where(User.id == user_id).scalar_subquery(),
    )


async def usage(session: AsyncSession, *, user_id: str, default_limit: int) -> StorageUsage:
    """What the user's attachments and library files take, and the limit that applies."""
    attachments, files, own = (await session.execute(usage_statement(user_id))).one()
    return StorageUsage(
        attachment_bytes=int(attachments),
        library_bytes=int(files),
        limit_bytes=limit_of(default_limit, own),
        own_limit_bytes=None if own is None else int(own),
    )


async def usages(
    session: AsyncSession, *, users: Sequence[User], default_limit: int
) -> dict[str, StorageUsage]:
    """`usage` of each of these users by id, in three grouped statements (the admins' list),
    counted as `usage_statement` counts one user's."""
    ids = [user.id for user in users]
    stored = (
        select(
            Chat.user_id, ChatAttachment.chat_id, ChatAttachment.storage_key, ChatAttachment.size
        )
        .join(Chat, Chat.id == ChatAttachment.chat_id)
        .where(Chat.user_id.in_(ids))
        .distinct()
        .subquery()
    )
    own = select(
        LibraryFile.owner_user_id.label("user_id"), LibraryFile.storage_key, LibraryFile.size
    )
    own = own.where(LibraryFile.owner_user_id.in_(ids))
    in_teams = (
        select(TeamMembership.user_id, LibraryFile.storage_key, LibraryFile.size)
        .join(
            LibraryFile,
            and_(
                LibraryFile.team_id == TeamMembership.team_id,
                LibraryFile.created_by == TeamMembership.user_id,
            ),
        )
        .where(TeamMembership.user_id.in_(ids))
    )
    library = union(own, in_teams).subquery()
    sums: dict[str, list[int]] = {user_id: [0, 0] for user_id in ids}
    for column, table in ((0, stored), (1, library)):
        totals = select(table.c.user_id, func.sum(table.c.size)).group_by(table.c.user_id)
        for user_id, total in await session.execute(totals):
            sums[user_id][column] = int(total or 0)
    return {
        user.id: StorageUsage(
            attachment_bytes=sums[user.id][0],
            library_bytes=sums[user.id][1],
            limit_bytes=limit_of(default_limit, user.storage_limit_bytes),
            own_limit_bytes=user.storage_limit_bytes,
        )
        for user in users
    }


async def own_limit(session: AsyncSession, *, user_id: str) -> int | None:
    """The limit an admin set for the user (None: the default), read with a key share of their
    row on PostgreSQL: the first lock of the chats' lock order (see the module's text), taken
    whether or not a limit applies, since the files' inserts need it first either way."""
    query = select(User.storage_limit_bytes).where(User.id == user_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(read=True, key_share=True, of=User)
    return await session.scalar(query)


async def lock(session: AsyncSession, *, user_id: str) -> None:
    """Take the user's quota lock until the transaction ends (PostgreSQL; SQLite's write
    transaction serialises writers already), after a key share of their row."""
    if session.get_bind().dialect.name == "postgresql":
        await own_limit(session, user_id=user_id)
        await session.execute(_LOCK, {"user_id": user_id})


async def held(
    session: AsyncSession,
    *,
    user_id: str,
    keys: Collection[str],
    chat_id: str | None,
    excluding: str | None = None,
) -> set[str]:
    """Which of these contents the user already stores: in their library (but in the file
    `excluding`), or in the chat."""
    found: set[str] = set()
    ordered = sorted(keys)
    for start in range(0, len(ordered), 500):
        batch = ordered[start : start + 500]
        if chat_id is None:  # by sha256 (= storage_key), indexed: a few rows, then whose
            teams = select(TeamMembership.team_id).where(TeamMembership.user_id == user_id)
            query = select(LibraryFile.storage_key).where(
                LibraryFile.sha256.in_(batch),
                or_(
                    LibraryFile.owner_user_id == user_id,
                    and_(LibraryFile.team_id.in_(teams), LibraryFile.created_by == user_id),
                ),
            )
            if excluding is not None:
                query = query.where(LibraryFile.id != excluding)
        else:
            query = select(ChatAttachment.storage_key).where(
                ChatAttachment.chat_id == chat_id, ChatAttachment.storage_key.in_(batch)
            )
        found.update(await session.scalars(query.distinct()))
    return found


@dataclass(kw_only=True)
class Allowance:
    """What a user may still store in this transaction, taken file by file under their quota
    lock (a library sync adds the files that fit and skips the rest)."""

    session: AsyncSession
    user_id: str
    usage: StorageUsage
    held: set[str] = field(default_factory=set)
    added: int = 0

    @property
    def limit_bytes(self) -> int | None:
        """The user's limit (None: no limit)."""
        return self.usage.limit_bytes

    @property
    def used_bytes(self) -> int:
        """What their files take, with those taken so far."""
        return self.usage.used_bytes + self.added

    async def take(
        self, key: str, size: int, *, replacing: tuple[str, str, int] | None = None
    ) -> bool:
        """Count a library file's content if it fits (a content the user stores already is
        free); False, and nothing counted, if it does not. `replacing` (file id, key, size): the
        file's content it replaces, whose bytes are freed when no other file of the user's holds
        them, so a changed file that shrinks fits where it did before."""
        freed = 0
        if replacing is not None:
            file_id, old_key, old_size = replacing
            others = await held(
                self.session, user_id=self.user_id, keys=[old_key], chat_id=None, excluding=file_id
            )
            freed = 0 if others else old_size
        adding = 0 if key in self.held else size
        limit = self.limit_bytes
        if limit is not None and self.used_bytes - freed + adding > limit:
            return False
        self.added += adding - freed
        if freed and replacing is not None:
            self.held.discard(replacing[1])
        self.held.add(key)
        return True


async def allowance(
    session: AsyncSession, *, user_id: str, keys: Collection[str], default_limit: int
) -> Allowance:
    """The user's allowance for library files of these contents, holding their quota lock until
    the transaction ends."""
    await lock(session, user_id=user_id)
    now = await usage(session, user_id=user_id, default_limit=default_limit)
    mine = (
        set()
        if now.limit_bytes is None
        else await held(session, user_id=user_id, keys=keys, chat_id=None)
    )
    return Allowance(session=session, user_id=user_id, usage=now, held=mine)


async def admit(
    session: AsyncSession,
    *,
    user_id: str,
    files: NewFiles,
    default_limit: int,
    uploader_id: str | None = None,
) -> StorageUsage | None:
    """Check that the new files fit the user's quota, holding their quota lock until the
    transaction ends (store the files in the same transaction). Contents the user already
    stores where these go add nothing. `uploader_id`, when someone else uploads into the
    user's library, is named in the refusal. None when the user has no limit.

    Raises:
        StorageQuotaExceeded: the files already stored plus the new ones would pass the limit.
    """
    if limit_of(default_limit, await own_limit(session, user_id=user_id)) is None:
        return None
    if session.get_bind().dialect.name == "postgresql":  # the row's key share is held already
        await session.execute(_LOCK, {"user_id": user_id})
    now = await usage(session, user_id=user_id, default_limit=default_limit)
    kept = await held(session, user_id=user_id, keys=files.sizes, chat_id=files.chat_id)
    adding = sum(size for key, size in files.sizes.items() if key not in kept)
    limit = now.limit_bytes
    if limit is not None and now.used_bytes + adding > limit:
        raise StorageQuotaExceeded(
            await refusal(
                session, user_id=user_id, uploader_id=uploader_id, usage=now, adding=adding
            ),
            used=now.used_bytes,
            upload=adding,
            limit=limit,
        )
    return now


async def refusal(
    session: AsyncSession,
    *,
    user_id: str,
    uploader_id: str | None,
    usage: StorageUsage,
    adding: int,
) -> str:
    """The refusal's message: whose storage is full (the uploader's own, or the library
    owner's they upload to) and what to do."""
    limit = usage.limit_bytes or 0
    amounts = (
        f"These files ({shown(adding)}) would take {{whose}} over {{its}} limit of "
        f"{shown(limit)}: {{they}} take {shown(usage.used_bytes)} now."
    )
    if uploader_id is None or uploader_id == user_id:
        return amounts.format(whose="your stored files", its="your", they="they") + (
            " Delete chat attachments or library files you no longer need, or ask an admin to "
            "raise your limit."
        )
    owner = await session.get(User, user_id)
    name = owner.display_name or owner.username if owner is not None else "its owner"
    return amounts.format(whose=f"the storage of {name}", its="their", they="their files") + (
        f" The files go to {name}'s library and count toward their storage, not yours: ask "
        f"{name} to delete files they no longer need, or an admin to raise their limit."
    )
