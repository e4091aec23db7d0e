"""Branches of a chat: its messages form a tree by `parent_id`, and the chat shows one path.

Editing a user message or regenerating an answer adds a sibling (same parent) instead of replacing
anything, so every earlier version stays reachable. The chat's `active_leaf_id` names the last
message of the path shown and continued; the model's history for a turn is that path, root first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.errors import MessageNotFound
from assistant.models import Chat, Message
from core import clock, ids
from core.listing import InvalidSort, Page, PageRequest


@dataclass(frozen=True)
class Tree:
    """Every message of one chat, by id and by parent."""

    by_id: dict[str, Message]
    children: dict[str | None, list[Message]]

    @classmethod
    def of(cls, messages: Sequence[Message]) -> Tree:
        """The tree of a chat's messages (given oldest first)."""
        children: dict[str | None, list[Message]] = {}
        for message in messages:
            children.setdefault(message.parent_id, []).append(message)
        return cls({m.id: m for m in messages}, children)

    def path_to(self, leaf_id: str | None) -> list[Message]:
        """The messages from the root down to `leaf_id` (empty for None or an unknown id)."""
        path: list[Message] = []
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

    def siblings(self, message: Message) -> list[str]:
        """The ids of a message and its alternatives (same parent), oldest first."""
        return [m.id for m in self.children.get(message.parent_id, [])]

    def latest(self) -> Message | None:
        """The newest message of the chat."""
        return max(self.by_id.values(), key=lambda m: (m.created_at, m.id), default=None)


@dataclass(frozen=True)
class BranchMessage:
    """A message of the path shown, with its alternatives for a "2/3" switcher."""

    message: Message
    sibling_ids: list[str]


async def tree(session: AsyncSession, *, chat: Chat) -> Tree:
    """Load every message of a chat as a tree."""
    rows = await session.scalars(
        select(Message).where(Message.chat_id == chat.id).order_by(Message.created_at, Message.id)
    )
    return Tree.of(list(rows))


def active_path(chat: Chat, messages: Tree) -> list[Message]:
    """The path the chat shows: to its active leaf, or to its newest message when it has none."""
    path = messages.path_to(chat.active_leaf_id)
    if not path:
        latest = messages.latest()
        path = messages.path_to(latest.id) if latest is not None else []
    return path


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


async def add_turn(
    session: AsyncSession,
    *,
    chat_id: str,
    parent_id: str | None,
    content: str | None,
    model: str,
    dropped_turns: int = 0,
    title: str | None = None,
) -> Message:
    """Hang a user message (unless `content` is None: a new answer to the same one) and a
    `streaming` answer below `parent_id`; the answer becomes the chat's active leaf."""
    if content is not None:
        question = Message(
            id=ids.new_id(), chat_id=chat_id, parent_id=parent_id, role="user", content=content
        )
        session.add(question)
        parent_id = question.id
    answer = Message(
        id=ids.new_id(),
        chat_id=chat_id,
        parent_id=parent_id,
        role="assistant",
        model=model,
        status="streaming",
        dropped_turns=dropped_turns,
    )
    session.add(answer)
    values: dict[str, Any] = {"updated_at": clock.now(), "active_leaf_id": answer.id}
    if title is not None:
        values["title"] = title
    await session.execute(update(Chat).where(Chat.id == chat_id).values(**values))
    return answer


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
