"""One lock order for the transactions that change chats, on PostgreSQL.

Migration assistant_0027 gave the chat search's bookkeeping one order: a user's lock
(`COUNTS_KEY`, taken by the search triggers before they change the user's counts), then chats'
starts. A transaction that changes several chats, or that holds a chat and then takes the
user's lock (a chat renamed, archived or deleted: the triggers take it after the row), could
still close a cycle with another taking the same rows in another order (a user deleted while
they archive a chat, two users deleted at once whose chats talk to each other's assistants).
So each of them first takes, through `lock`, the locks of the users whose counts it will change,
in order, then the rows of every chat it will change, in id order; then it writes. The rest
(assistants, folders, messages, starts, counts) comes after. A user's removal takes the user's
row before all that (`lock_removal`): a row being written that refers to the user (a chat
created, a turn's billing) holds a key share of it before it takes their lock or a chat's row.
SQLite serialises writers: nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import Connection, Select, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.errors import ChatNotFound
from assistant.models import Assistant, Chat
from core.models import User

# Migration assistant_0026's key of the users' locks (`pg_advisory_xact_lock(COUNTS_KEY,
# hashtext(user_id))`), taken in hashtext order as its triggers take them.
COUNTS_KEY = 20260023
_USERS = text(
    f"SELECT pg_advisory_xact_lock({COUNTS_KEY}, u.k) FROM ("
    " SELECT DISTINCT hashtext(s.user_id) AS k"
    " FROM unnest(CAST(:users AS varchar[])) AS s(user_id) ORDER BY 1"
    ") u"
)
# The lock of a chat's owner (the chat read by key, its row not locked).
_OWNER = text(
    f"SELECT pg_advisory_xact_lock({COUNTS_KEY}, hashtext(c.user_id)) FROM assistant_chat c"
    " WHERE c.id = :chat"
)


async def lock(
    session: AsyncSession,
    *,
    chats: Select[str] | Collection[str] = (),
    users: Collection[str] = (),
    deleting: bool = False,
) -> Sequence[str] | None:
    """PostgreSQL: take the locks of `users` (whose chat counts the transaction changes), then
    the rows of `chats` (ids, or a query of them) in id order, `deleting` them (FOR UPDATE) or
    changing them (FOR NO KEY UPDATE, which lets messages be added meanwhile); the ids of the
    chats locked, those that still exist. SQLite: nothing, None."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    with session.no_autoflush:  # before anything the transaction has yet to write
        if users:
            await session.execute(_USERS, {"users": sorted(set(users))})
        if not isinstance(chats, Select) and not chats:
            return []
        ids = chats if isinstance(chats, Select) else list(chats)
        rows = select(Chat.id).where(Chat.id.in_(ids)).order_by(Chat.id)
        return (await session.scalars(rows.with_for_update(key_share=not deleting))).all()


async def lock_one(session: AsyncSession, chat: Chat, *, deleting: bool = False) -> None:
    """`lock` for one chat whose owner's counts the transaction changes (renamed, archived,
    deleted).

    Raises:
        ChatNotFound: the chat was deleted meanwhile (PostgreSQL).
    """
    locked = await lock(session, chats=[chat.id], users=[chat.user_id], deleting=deleting)
    if locked is not None and chat.id not in locked:
        raise ChatNotFound(chat_id=chat.id)


def lock_owner(connection: Connection, chat_id: str) -> None:
    """PostgreSQL: take the lock of the chat's owner, before a Core write that renames the chat
    (a turn that titles it, the title written later): the user's lock before the chat's row."""
    if connection.dialect.name == "postgresql":
        connection.execute(_OWNER, {"chat": chat_id})


async def lock_removal(session: AsyncSession, *, user_id: str) -> None:
    """PostgreSQL: before a user is removed, their row (which every row of theirs being written
    refers to: such a writer may hold their lock or a chat next, never the other way round), then
    `lock` their lock and the chats the removal changes: their own (deleted) and others' talking
    to one of their assistants or drafts (left without an assistant)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    with session.no_autoflush:
        await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    theirs = select(Assistant.id).where(Assistant.owner_id == user_id)
    chats = select(Chat.id).where(or_(Chat.user_id == user_id, Chat.assistant_id.in_(theirs)))
    await lock(session, chats=chats, users=[user_id], deleting=True)


def of_assistant(assistant_id: str) -> Select[str]:
    """The chats removing an assistant changes: those talking to it or to its draft."""
    drafts = select(Assistant.id).where(Assistant.editing_id == assistant_id)
    return select(Chat.id).where(
        or_(Chat.assistant_id == assistant_id, Chat.assistant_id.in_(drafts))
    )
