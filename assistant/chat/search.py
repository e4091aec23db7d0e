"""Finding one's chats: filters (archived, pinned, folder, tag) and search over titles and text.

A search matches a chat when its title or any of its messages (on any branch) holds the words
(every word, the last one also as the start of a word: the full-text indexes of
`core.fulltext`); each match comes with a snippet of the first message that does, to show why it
matched. The built-in Chats toolkit searches the same way (`ChatSearchSource`), archived chats
included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.models import Chat, ChatTag, Message
from core import fulltext
from core.fulltext import FullTextIndex

CHATS = FullTextIndex("assistant_chat", ("title",))
MESSAGES = FullTextIndex("assistant_message", ("content",))


@dataclass(frozen=True, kw_only=True)
class ChatFilter:
    """Which of a user's chats to list; archived chats only when asked for (`None`: with them)."""

    archived: bool | None = False
    pinned: bool | None = None
    folder_id: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class Match:
    """Why a chat matched a search: the first message that holds the words, and its text."""

    message_id: str | None
    snippet: str


def chats_query(user_id: str, filters: ChatFilter, q: str | None, dialect: str) -> Select[Chat]:
    """The user's chats that pass the filters and match `q`, pinned ones first."""
    return matching(user_id, filters, q, dialect).order_by(Chat.pinned.desc())


def matching(user_id: str, filters: ChatFilter, q: str | None, dialect: str) -> Select[Chat]:
    """The user's chats that pass the filters and whose title or any message holds `q`."""
    stmt = select(Chat).where(Chat.user_id == user_id)
    if filters.archived is not None:
        stmt = stmt.where(Chat.archived.is_(filters.archived))
    if filters.pinned is not None:
        stmt = stmt.where(Chat.pinned.is_(filters.pinned))
    if filters.folder_id is not None:
        stmt = stmt.where(Chat.folder_id == filters.folder_id)
    if filters.tag is not None:
        tagged = select(ChatTag.chat_id).where(ChatTag.tag == filters.tag)
        stmt = stmt.where(Chat.id.in_(tagged))
    if q and q.strip():
        stmt = stmt.where(_holding(fulltext.words(q), dialect))
    return stmt


def _holding(terms: fulltext.Terms | None, dialect: str) -> ColumnElement[bool]:
    if terms is None:
        return false()
    # One IN over a UNION, not an OR of two: PostgreSQL turns it into a semi-join, where an OR
    # left a subplan scanned once per chat (80 s for a word in most of 200,000 messages). Not
    # narrowed to the user's chats here (the outer query is): joined, SQLite probed every chat
    # of the user against every matching message.
    titled = select(Chat.id).where(CHATS.matching(dialect, terms))
    in_text = select(Message.chat_id).where(MESSAGES.matching(dialect, terms))
    return Chat.id.in_(union(titled, in_text))


class ChatSearchSource:
    """Search over one user's chats (archived too) for the built-in Chats toolkit."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def search_chats(self, *, user_id: str, query: str, limit: int) -> list[dict[str, Any]]:
        """The user's chats matching `query` (all of them when blank), most recently active
        first."""
        async with self.sessions() as session:
            dialect = session.get_bind().dialect.name
            stmt = matching(user_id, ChatFilter(archived=None), query.strip() or None, dialect)
            rows = await session.scalars(stmt.order_by(Chat.updated_at.desc()).limit(limit))
            return [
                {"id": c.id, "title": c.title, "updatedAt": c.updated_at.isoformat()} for c in rows
            ]


async def matches(session: AsyncSession, *, chats: Sequence[Chat], q: str) -> dict[str, Match]:
    """For each chat, the first message holding `q` with a snippet; else its title."""
    found = {chat.id: Match(None, chat.title) for chat in chats}
    terms = fulltext.words(q)
    if not chats or terms is None:
        return found
    dialect = session.get_bind().dialect.name
    first = (
        func.row_number()
        .over(partition_by=Message.chat_id, order_by=(Message.created_at, Message.id))
        .label("n")
    )
    ranked = (
        select(Message.chat_id, Message.id, Message.content, first)
        .where(
            Message.chat_id.in_([chat.id for chat in chats]),
            MESSAGES.matching(dialect, terms),
        )
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.chat_id, ranked.c.id, ranked.c.content).where(ranked.c.n == 1)
    )
    for chat_id, message_id, content in rows:
        found[chat_id] = Match(message_id, fulltext.snippet(content, terms).text)
    return found
