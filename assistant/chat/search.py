"""Finding one's chats: filters (archived, pinned, folder, tag) and search over titles and text.

A search matches a chat when its title or any of its messages (on any branch) holds the words
(every word, the last one also as the start of a word: the full-text indexes of
`core.fulltext`); each match comes with a snippet of the first message that does, to show why it
matched. Which chats hold the words comes from an index that answers by chat, not from a read
of every message row that holds them: on SQLite an index of messages by chat (migration
assistant_0018: an FTS5 index whose rowids carry the chat); on PostgreSQL each chat's distinct
words (migration assistant_0020, GIN) for a single word, and for several words, which must be in
one message, the messages holding them all. The built-in Chats toolkit searches the same way
(`ChatSearchSource`), archived chats included.

On PostgreSQL the chat list's one-word search (`listing`; a word of at most `PREFIX_CHARS`
characters) also knows its total without counting:
migration assistant_0023 keeps each chat's word starts and, per user, how many chats hold each
start. A message's starts wait in a pending table until merged (assistant_0026): by
`drain_forever` in the background, and by the list itself for the user's chats, in its own
transaction, before it reads the counts, so its totals and pages are exact (a chat being
written when the list drains is skipped, assistant_0027: the list then counts as it would
without the counts). When the matches
are dense enough a page walks the list's order index testing chat by chat (a word in most chats
fills a page in about `limit` tests), else it reads the matches through the chat words as
above; either way the same chats, in the same order, and the same total.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    false,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    union,
)
from sqlalchemy import column as sql_column
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from assistant.models import Chat, ChatTag, Message
from core import fulltext
from core.fulltext import FullTextIndex
from core.listing import PageRequest

log = logging.getLogger(__name__)
T = TypeVar("T")

CHATS = FullTextIndex("assistant_chat", ("title",))
MESSAGES = FullTextIndex("assistant_message", ("content",))
# SQLite: the messages again, each under its chat (migration assistant_0018).
CHAT_MESSAGES_FTS = "assistant_chat_message_fts"
# PostgreSQL: a page walks the list testing chat by chat when that tests fewer chats than
# reading every match would, weighed by what each costs: (start + limit) x chats / matches
# tests (the chat's part of starts for the word, looked up and searched) against `matches` reads
# of a chat's words.
WALK_COST = 4
# PostgreSQL: the longest word start migration assistant_0023 keeps (a longer word is searched
# through the chat words, its total counted).
PREFIX_CHARS = 32
# PostgreSQL: how many of the user's chats (archived or not) hold the start, and all of them
# (start ''), when the search's one word is the engine's one lexeme as written.
_COUNTED = text(
    "SELECT CAST(to_tsquery('simple', :query) AS text) = :query, "
    "(SELECT coalesce(sum(chats), 0) FROM assistant_chat_prefix_counts "
    " WHERE user_id = :user_id AND archived IN :archived AND prefix = :word), "
    "(SELECT coalesce(sum(chats), 0) FROM assistant_chat_prefix_counts "
    " WHERE user_id = :user_id AND prefix = ''), "
    # whether any of the user's messages' starts are pending (assistant_0026): one probe of
    # the pending rows' index by owner (assistant_0027), whatever others have pending
    "EXISTS (SELECT 1 FROM assistant_chat_prefix_pending q WHERE q.user_id = :user_id)"
).bindparams(bindparam("archived", expanding=True))


# PostgreSQL: the messages' word starts waiting to be merged into their chats' starts and the
# counts (migration assistant_0026), of one user's chats (waiting for the user's lock), or of
# the users whose locks are free (NULL; assistant_0027), at most `most` chats (all: NULL).
_DRAIN = text("SELECT assistant_chat_prefixes_drain(:user_id, :most)")
_OWNERS = text("SELECT DISTINCT user_id FROM assistant_chat_prefix_pending")
# The background drain: chats a transaction, and the pause when nothing was left.
DRAIN_CHATS = 200
DRAIN_SECONDS = 2.0
DRAIN_TRIES = 3
DEADLOCK = "40P01"  # PostgreSQL's deadlock_detected


async def _on_deadlock(attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()`, sent again when PostgreSQL broke a deadlock with it, DRAIN_TRIES times in
    all. Since assistant_0027 a drain takes the users' locks before any chat and never waits
    for a chat, so it cannot close a cycle of its own; the list's drain runs in the request's
    transaction, though, whose earlier locks are not the drain's to order."""
    for _ in range(DRAIN_TRIES - 1):
        try:
            return await attempt()
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != DEADLOCK:
                raise
    return await attempt()


async def drain(engine: AsyncEngine, *, user_id: str | None, most: int | None = None) -> int:
    """PostgreSQL: merge the pending word starts of `user_id`'s chats, of at most `most` chats,
    into the chats' starts and the counts, and commit; how many chats. Everyone's when None:
    with `most`, of the users no other transaction holds (the background's pass, which never
    waits); without, each user's in turn, waiting for them (all that is pending now)."""
    if user_id is None and most is None:
        async with engine.connect() as connection:
            owners = (await connection.scalars(_OWNERS)).all()
        return sum([await drain(engine, user_id=owner) for owner in owners])

    async def attempt() -> int:
        async with engine.connect() as connection:
            drained = await connection.scalar(_DRAIN, {"user_id": user_id, "most": most})
            await connection.commit()
            return int(drained or 0)

    return await _on_deadlock(attempt)


async def _drain_here(session: AsyncSession, user_id: str) -> None:
    """PostgreSQL: merge the pending word starts of the user's chats in the session's own
    transaction (committed with the request's: no second connection from the pool), under a
    savepoint."""

    async def attempt() -> None:
        async with session.begin_nested():
            await session.execute(_DRAIN, {"user_id": user_id, "most": None})

    await _on_deadlock(attempt)


async def drain_forever(engine: AsyncEngine) -> None:
    """PostgreSQL: merge everyone's pending word starts, DRAIN_CHATS chats a transaction, then
    wait DRAIN_SECONDS when none are left, forever; so the chat list rarely has any to merge."""
    while True:
        try:
            while await drain(engine, user_id=None, most=DRAIN_CHATS) == DRAIN_CHATS:
                pass
        except Exception:
            log.exception("merging pending chat word starts failed")
        await asyncio.sleep(DRAIN_SECONDS)


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


@dataclass(frozen=True)
class Listing:
    """The chat list's statement, and its total when known exactly without counting."""

    query: Select[Chat]
    total: int | None = None


async def listing(
    session: AsyncSession, *, user_id: str, filters: ChatFilter, page: PageRequest
) -> Listing:
    """The chat list's statement (`chats_query`); on PostgreSQL, for one word searched in the
    list's own order without other filters than `archived`, with its total from the kept counts
    and, when the matches are dense, as a walk of the list testing each chat."""
    dialect = session.get_bind().dialect.name
    query = chats_query(user_id, filters, page.q, dialect)
    terms = fulltext.words(page.q) if page.q and page.q.strip() else None
    plain = filters.pinned is None and filters.folder_id is None and filters.tag is None
    if (
        dialect != "postgresql"
        or terms is None
        or len(terms.words) > 1
        or len(terms.words[0]) > PREFIX_CHARS
        or not plain
        or page.sort not in (None, "-updatedAt")
    ):
        return Listing(query)
    word = terms.words[0]
    archived = [False, True] if filters.archived is None else [filters.archived]
    counted = {"query": terms.tsquery(), "user_id": user_id, "archived": archived, "word": word}
    row = (await session.execute(_COUNTED, counted)).one()
    if row[3]:  # the user's messages written since the last drain, counted first
        await _drain_here(session, user_id)
        row = (await session.execute(_COUNTED, counted)).one()
    single, holding, chats = bool(row[0]), int(row[1]), int(row[2])
    # The engine parses the word otherwise, or the drain skipped a chat being written (its
    # writer held the chat): search and count it as before.
    if not single or row[3]:
        return Listing(query)
    tests = (page.start + page.limit) * chats
    if page.start < holding and tests <= holding * holding // WALK_COST:
        walk = matching(user_id, filters, None, dialect).where(
            func.assistant_chat_holds(Chat.id, word)
        )
        query = walk.order_by(Chat.pinned.desc())
    return Listing(query, holding)


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
    if dialect == "postgresql":
        # One IN over a UNION, not an OR of two: PostgreSQL turns it into a semi-join, where an
        # OR left a subplan scanned once per chat (80 s for a word in most of 200,000 messages).
        titled = select(Chat.id).where(CHATS.matching(dialect, terms))
        return Chat.id.in_(union(titled, _in_text(terms)))
    # Each row of the index is a message, its rowid the chat's rowid << 32 + the message's: the
    # chats come out of the index itself, not from a read of each matching message's row.
    index = table(CHAT_MESSAGES_FTS, sql_column("rowid"))
    chats = select(index.c.rowid.op(">>")(32)).where(
        literal_column(CHAT_MESSAGES_FTS).op("MATCH")(terms.fts5())
    )
    return or_(CHATS.matching(dialect, terms), literal_column("assistant_chat.rowid").in_(chats))


def _in_text(terms: fulltext.Terms) -> Select[str]:
    """PostgreSQL: the chats with a message holding the words. One word (searched as a prefix):
    from each chat's words (migration assistant_0020: its function reads their GIN index), a
    row per chat part rather than per matching message; several, which must be in one message:
    from the messages holding them all."""
    if len(terms.words) > 1:
        return select(Message.chat_id).where(MESSAGES.matching("postgresql", terms))
    holding: ColumnElement[str] = func.assistant_chat_words_holding(fulltext.tsquery(terms))
    return select(holding)


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
    ids = [chat.id for chat in chats]
    stmt = _first_hits(ids, terms) if dialect == "sqlite" else _first_matches(ids, terms)
    rows = await session.execute(stmt)
    for chat_id, message_id, content in rows:
        found[chat_id] = Match(message_id, fulltext.snippet(content, terms).text)
    return found


def _first_matches(chat_ids: list[str], terms: fulltext.Terms) -> Select[str, str, str]:
    """PostgreSQL: each chat's first message holding the words (by time), from the page's
    chats' own messages. OFFSET 0 keeps the words' test out of the read by chat: with it there
    the planner ANDs in the message index's posting list of the words, whose cost it misjudges
    for a prefix (on the bench's 10,000-chat database: 25 ms for a word in 1 message in 9,
    and 27 ms for one in every message, through a prepared statement's generic plan, against
    0.9 and 1.5 ms). So the cost follows the page's chats and their messages, not the number
    of messages everywhere that hold the words."""
    vector: ColumnElement[Any] = literal_column(f"assistant_message.{fulltext.VECTOR_COLUMN}")
    mine = (
        select(Message.chat_id, Message.id, Message.content, Message.created_at, vector)
        .where(Message.chat_id.in_(chat_ids))
        .offset(0)
        .subquery("page_messages")
    )
    first = (
        func.row_number()
        .over(partition_by=mine.c.chat_id, order_by=(mine.c.created_at, mine.c.id))
        .label("n")
    )
    holding = fulltext.holding(f"page_messages.{fulltext.VECTOR_COLUMN}", terms)
    ranked = select(mine.c.chat_id, mine.c.id, mine.c.content, first).where(holding).subquery()
    return select(ranked.c.chat_id, ranked.c.id, ranked.c.content).where(ranked.c.n == 1)


def _first_hits(chat_ids: list[str], terms: fulltext.Terms) -> Select[str, str, str]:
    """SQLite: each chat's first message holding the words (the first written), found in the
    index of messages by chat, whose rowids name chat and message: the matching messages of
    other chats are skipped without reading their rows."""
    index = table(CHAT_MESSAGES_FTS, sql_column("rowid"))
    chat_of = index.c.rowid.op(">>")(32)
    page: Select[int] = select(literal_column("assistant_chat.rowid")).where(Chat.id.in_(chat_ids))
    hits = (
        select(chat_of.label("chat"), func.min(index.c.rowid.op("&")(0xFFFFFFFF)).label("message"))
        .where(literal_column(CHAT_MESSAGES_FTS).op("MATCH")(terms.fts5()), chat_of.in_(page))
        .group_by(chat_of)
        .subquery()
    )
    rowid: ColumnElement[int] = literal_column("assistant_message.rowid")
    return select(Message.chat_id, Message.id, Message.content).join(hits, rowid == hits.c.message)
