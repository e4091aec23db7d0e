"""Branches of a chat: its messages form a tree by `parent_id`, and the chat shows one path.

Editing a user message or regenerating an answer adds a sibling (same parent) instead of replacing
anything, so every earlier version stays reachable. The chat's `active_leaf_id` names the last
message of the path shown and continued; the model's history for a turn is that path, root first
(a turn reads only its newest part: `window`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.chat import lock_order
from assistant.errors import MessageNotFound
from assistant.models import Chat, Message
from assistant.schemas import MessageStatus
from core import clock, ids
from core.listing import InvalidSort, Page, PageRequest


class Node(NamedTuple):
    """A message as a new turn needs it: where it hangs, and what the model is told."""

    id: str
    parent_id: str | None
    role: str
    status: str
    content: str
    history_turns: int | None = None  # the turns of history above it, when known


M = TypeVar("M", Message, Node)


@dataclass(frozen=True)
class Tree(Generic[M]):
    """Every message of one chat, by id and by parent."""

    by_id: dict[str, M]
    children: dict[str | None, list[M]]

    @classmethod
    def of(cls, messages: Sequence[M]) -> Tree[M]:
        """The tree of a chat's messages (given oldest first)."""
        children: dict[str | None, list[M]] = {}
        for message in messages:
            children.setdefault(message.parent_id, []).append(message)
        return cls({m.id: m for m in messages}, children)

    def path_to(self, leaf_id: str | None) -> list[M]:
        """The messages from the root down to `leaf_id` (empty for None or an unknown id)."""
        path: list[M] = []
        current = self.by_id.get(leaf_id) if leaf_id else None
        while current is not None and len(path) <= len(self.by_id):
            path.append(current)
            current = self.by_id.get(current.parent_id) if current.parent_id else None
        path.reverse()
        return path

    def newest_leaf_under(self, message_id: str) -> str:
        """The last message reached from `message_id` by always taking the newest reply."""
        current = message_id
        while self.children.get(current):
            current = self.children[current][-1].id
        return current

    def siblings(self, message: M) -> list[str]:
        """The ids of a message and its alternatives (same parent), oldest first."""
        return [m.id for m in self.children.get(message.parent_id, [])]

    def latest(self) -> M | None:
        """The newest message of the chat (the last given: they come oldest first)."""
        return next(reversed(self.by_id.values()), None)

    def shown_path(self, leaf_id: str | None) -> list[M]:
        """The path to `leaf_id`, or to the newest message when it is None or unknown."""
        path = self.path_to(leaf_id)
        if not path:
            latest = self.latest()
            path = self.path_to(latest.id) if latest is not None else []
        return path


@dataclass(frozen=True)
class BranchMessage:
    """A message of the path shown, with its alternatives for a "2/3" switcher."""

    message: Message
    sibling_ids: list[str]


async def tree(session: AsyncSession, *, chat: Chat) -> Tree[Message]:
    """Load every message of a chat as a tree."""
    rows = await session.scalars(
        select(Message).where(Message.chat_id == chat.id).order_by(Message.created_at, Message.id)
    )
    return Tree.of(list(rows))


def active_path(chat: Chat, messages: Tree[M]) -> list[M]:
    """The path the chat shows: to its active leaf, or to its newest message when it has none."""
    return messages.shown_path(chat.active_leaf_id)


async def active_branch(session: AsyncSession, *, chat: Chat) -> list[BranchMessage]:
    """The messages of the chat's active branch, root first, each with its alternatives."""
    messages = await tree(session, chat=chat)
    return [BranchMessage(m, messages.siblings(m)) for m in active_path(chat, messages)]


async def sibling_ids(session: AsyncSession, *, message: Message) -> list[str]:
    """The ids of a message and its alternatives (same parent), oldest first."""
    same_parent = (
        Message.parent_id == message.parent_id
        if message.parent_id is not None
        else Message.parent_id.is_(None)
    )
    rows = await session.scalars(
        select(Message.id)
        .where(Message.chat_id == message.chat_id, same_parent)
        .order_by(Message.created_at, Message.id)
    )
    return list(rows)


async def page_of(
    session: AsyncSession, *, chat: Chat, page: PageRequest, every_branch: bool = False
) -> Page[BranchMessage]:
    """A page of the active branch (or of every message), oldest first; `q` filters by text.

    Raises:
        InvalidSort: a sort other than `createdAt` or `-createdAt`.
    """
    messages = await tree(session, chat=chat)
    chosen = list(messages.by_id.values()) if every_branch else active_path(chat, messages)
    if page.q:
        words = page.q.casefold()
        chosen = [m for m in chosen if words in m.content.casefold()]
    sort = page.sort or "createdAt"
    if sort not in {"createdAt", "-createdAt"}:
        raise InvalidSort(sort=sort, allowed=["createdAt"])
    if sort.startswith("-"):
        chosen.reverse()
    shown = chosen[page.start : page.start + page.limit]
    items = [BranchMessage(m, messages.siblings(m)) for m in shown]
    return Page(items, len(chosen), page.start, page.limit)


CHATS = Chat.metadata.tables[Chat.__tablename__]
MESSAGES = Message.metadata.tables[Message.__tablename__]
# A turn's reads and writes are prepared Core statements: no ORM objects on the chat's hot path.
# The chat as a new turn reads it (`window`).
CHAT_FOR_TURN = select(
    CHATS.c.id,
    CHATS.c.user_id,
    CHATS.c.title,
    CHATS.c.model,
    CHATS.c.knowledge_file_ids,
    CHATS.c.knowledge_folder_ids,
    CHATS.c.assistant_id,
    CHATS.c.toolkit_ids,
    CHATS.c.active_leaf_id,
).where(CHATS.c.id == bindparam("chat"))
_INSERT_MESSAGES = insert(MESSAGES)
_TOUCH_CHAT = update(CHATS).where(CHATS.c.id == bindparam("chat"))


@dataclass(frozen=True)
class NewTurn:
    """A user message (unless none: a new answer to the same one) and a `streaming` answer below
    a parent, ready to be written; the answer becomes the chat's active leaf."""

    answer_id: str
    rows: list[dict[str, Any]]
    chat: dict[str, Any]

    @property
    def question_id(self) -> str | None:
        """The new user message's id (None when the turn answers the same one again)."""
        return str(self.rows[0]["id"]) if len(self.rows) > 1 else None

    def write(self, connection: Connection) -> None:
        """Write the turn (in the caller's transaction: the admission of its first call): the
        chat's row before its messages (whose triggers lock the chat's starts), and when the turn
        titles the chat its owner's lock before that (`lock_order`)."""
        if "title" in self.chat:
            lock_order.lock_owner(connection, self.chat["chat"])
        connection.execute(_TOUCH_CHAT, self.chat)
        connection.execute(_INSERT_MESSAGES, self.rows)


def new_turn(
    *,
    chat_id: str,
    parent_id: str | None,
    content: str | None,
    model: str,
    dropped_turns: int = 0,
    title: str | None = None,
    process_id: str | None = None,
    history_turns: int | None = None,
) -> NewTurn:
    """The rows of a turn below `parent_id` (see `NewTurn`), which holds `history_turns` turns
    of history (None: unknown); `process_id` is the process that will write the answer."""
    now = clock.now()
    rows = []
    if content is not None:
        question_id = ids.new_id()
        rows.append(
            _row(
                message_id=question_id,
                chat_id=chat_id,
                parent_id=parent_id,
                role="user",
                content=content,
                now=now,
                history_turns=history_turns,
            )
        )
        parent_id = question_id
        history_turns = history_turns + 1 if history_turns is not None else None
    answer_id = ids.new_id()
    answer = _row(
        message_id=answer_id,
        chat_id=chat_id,
        parent_id=parent_id,
        role="assistant",
        content="",
        model=model,
        status=MessageStatus.STREAMING,
        dropped_turns=dropped_turns,
        now=now,
        history_turns=history_turns,
    )
    rows.append({**answer, "process_id": process_id})  # the writer of the `streaming` answer
    chat: dict[str, Any] = {"chat": chat_id, "updated_at": now, "active_leaf_id": answer_id}
    if title is not None:
        chat["title"] = title
    return NewTurn(answer_id, rows, chat)


def _row(
    *,
    message_id: str,
    chat_id: str,
    parent_id: str | None,
    role: str,
    content: str,
    now: datetime,
    model: str | None = None,
    status: MessageStatus = MessageStatus.COMPLETE,
    dropped_turns: int = 0,
    history_turns: int | None = None,
) -> dict[str, Any]:
    return {
        "id": message_id,
        "chat_id": chat_id,
        "parent_id": parent_id,
        "role": role,
        "content": content,
        "model": model,
        "status": status,
        "dropped_turns": dropped_turns,
        "history_turns": history_turns,
        "created_at": now,
        "updated_at": now,
        "process_id": None,
    }


async def switch(session: AsyncSession, *, chat: Chat, message_id: str) -> Chat:
    """Show the branch through `message_id`: its newest continuation becomes the active leaf.

    Raises:
        MessageNotFound: the chat has no such message.
    """
    messages = await tree(session, chat=chat)
    if message_id not in messages.by_id:
        raise MessageNotFound(message_id=message_id)
    chat.active_leaf_id = messages.newest_leaf_under(message_id)
    await session.flush()
    return chat
