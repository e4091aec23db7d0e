"""Search everywhere: one ranked list over what a user can see, on the full-text indexes.

Each kind of object is searched with the visibility rule its own list uses (a user's chats and
their messages; assistants they may use; library files of theirs and their teams'; toolkits and
jobs they may see), ranked by the engine (bm25 on SQLite, ts_rank on PostgreSQL), and the hits
of all kinds are merged by score (within a kind equal scores by id, newest first; across kinds
in the order of `HIT_TYPES`), so a search gives the same list each time. A word in many rows is
ranked among its newest matches only (1,000 on SQLite, 200 on PostgreSQL:
`core.fulltext.FullTextIndex.ranked`); PostgreSQL takes a user's chats and messages in the chat
list's order (`NEWEST`), so for a word in most of them it walks that list and reads about 200
messages however many chats the user has.

Library file content is not in SQL: the chunks are in the vector index with a BM25 sparse
vector, so content hits come from a keyword-only (sparse) search there, when the caller has an
indexed file and the index can be reached.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sqlalchemy import ColumnElement, String, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant import message_candidates
from assistant.assistants.sharing import Viewer, usable_clause
from assistant.models import Assistant, Chat, Message
from core.fulltext import CANDIDATES, FullTextIndex, Rows, Snippet, Terms, snippet
from core.models import User
from knowledge import jobs, library
from knowledge.index import TenantScope
from knowledge.models import Job, LibraryFile
from toolkits import discovery
from toolkits.models import Toolkit

HitType = Literal["chat", "message", "assistant", "file", "toolkit", "job"]
HIT_TYPES: tuple[HitType, ...] = ("chat", "message", "assistant", "file", "toolkit", "job")

CHATS = FullTextIndex("assistant_chat", ("title",))
MESSAGES = FullTextIndex("assistant_message", ("content",))
ASSISTANTS = FullTextIndex("assistant_assistant", ("name", "description"), (4.0, 1.0))
FILES = FullTextIndex("knowledge_file", ("name",))
TOOLKITS = FullTextIndex("toolkits_toolkit", ("name", "description"), (4.0, 1.0))
JOBS = FullTextIndex("knowledge_job", ("name",))
# Which matching chats and messages PostgreSQL ranks when more than its
# `core.fulltext.CANDIDATES` (200) match: the first in the chat list's order (pinned chats
# first, then by latest activity; a chat's messages newest first), an order the list's index
# walks (migration assistant_0019). The other kinds rank their newest by id.
_CHAT_ORDER: tuple[ColumnElement[Any], ...] = tuple(
    column.expression for column in (Chat.pinned, Chat.updated_at, Chat.id)
)
NEWEST: dict[HitType, tuple[ColumnElement[Any], ...]] = {
    "chat": _CHAT_ORDER,
    "message": (*_CHAT_ORDER, Message.created_at.expression, Message.id.expression),
}


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One thing found: what it is, its id and title, why it matched, and how well."""

    type: HitType
    id: str
    title: str
    snippet: Snippet
    score: float
    chat_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ContentHit:
    """A passage of a library file that holds the words."""

    file_id: str
    file_name: str
    text: str
    score: float


class ContentSearch(Protocol):
    """Keyword search over the library's stored chunks (`VectorStore.keyword_search`)."""

    async def __call__(self, scope: TenantScope, query: str, limit: int) -> list[ContentHit]:
        """The chunks of files the scope may see that hold the words, best first."""
        ...


@dataclass(frozen=True, kw_only=True)
class Searcher:
    """Who is searching: the user and their teams."""

    user: User
    team_ids: tuple[str, ...]

    @property
    def scope(self) -> TenantScope:
        """The searcher as the library sees them."""
        return TenantScope(self.user.id, self.team_ids)


async def search(
    session: AsyncSession,
    *,
    searcher: Searcher,
    text: str,
    terms: Terms | None,
    types: Collection[HitType] = HIT_TYPES,
    limit: int = 20,
    content: ContentSearch | None = None,
) -> list[Hit]:
    """The best `limit` hits of the asked types the searcher may see, best first.

    `terms` are the parsed words of `text` (`core.fulltext.parse`); None finds nothing.
    """
    if terms is None:
        return []
    dialect = session.get_bind().dialect.name
    hits: list[Hit] = []
    for kind in HIT_TYPES:
        if kind not in types:
            continue
        if kind == "message" and dialect == "postgresql":
            rows = await _messages(session, searcher, terms, limit)
        else:
            found = await session.execute(statement(kind, searcher, dialect, terms, limit))
            rows = [tuple(row) for row in found]
        hits += [_hit(kind, tuple(row), terms) for row in rows]
    if "file" in types and content is not None:
        hits = _with_content(
            hits, await _content_hits(session, searcher, text, limit, content), terms
        )
    hits.sort(key=lambda hit: -hit.score)  # stable: equal scores keep their kinds' order
    return hits[:limit]


def statement(
    kind: HitType,
    searcher: Searcher,
    dialect: str,
    terms: Terms,
    limit: int,
    *,
    walk: message_candidates.Walk | None = None,
) -> Rows:
    """A kind's best `limit` hits for the searcher, best first (`FullTextIndex.ranked`: id,
    title, texts..., score; a message's chat id before the score). PostgreSQL's messages: their
    candidates by a read of the matches or, given `walk`, a walk of the chat list, and then
    how many candidates it found after the score (`message_candidates`)."""
    stmt, index = _query(kind, searcher)
    if kind != "message" or dialect != "postgresql":
        return index.ranked(stmt, dialect, terms, limit=limit, newest=NEWEST.get(kind, ()))
    many = CANDIDATES[dialect]
    first = message_candidates.candidates(searcher.user.id, terms, many, walk)
    found = index.ranked(stmt, dialect, terms, limit=limit, candidates=first)
    if walk is None:
        return found
    return found.add_columns(select(func.count()).select_from(first).scalar_subquery())


async def _messages(
    session: AsyncSession, searcher: Searcher, terms: Terms, limit: int
) -> list[tuple[Any, ...]]:
    """PostgreSQL: the best `limit` messages, by a walk of the chat list when the counts say it
    pays and it found the first candidates, else by a read of the matches."""
    many = CANDIDATES["postgresql"]
    walk = await message_candidates.walk(session, searcher.user.id, terms, many)
    if walk is not None:
        rows = list(
            await session.execute(
                statement("message", searcher, "postgresql", terms, limit, walk=walk)
            )
        )
        if walk.complete(rows[0][-1] if rows else 0, many):
            return [tuple(row)[:-1] for row in rows]
    read = await session.execute(statement("message", searcher, "postgresql", terms, limit))
    return [tuple(row) for row in read]


def _query(kind: HitType, searcher: Searcher) -> tuple[Rows, FullTextIndex]:
    """What a kind's search reads (id, title, texts...) from the rows the searcher may see."""
    user_id = searcher.user.id
    # the user written into the statement, as the words are (`FullTextIndex.ranked`): with it a
    # parameter, PostgreSQL's generic plan of the prepared statement, made for any user, walked
    # all of the user's chats for a word in a few titles (1.8 ms at 10,000 chats, 0.4 its own)
    of_user = Chat.user_id == literal(user_id, String(), literal_execute=True)
    if kind == "chat":
        return select(Chat.id, Chat.title).where(of_user), CHATS
    if kind == "message":
        found = select(Message.id, Chat.title, Message.content, Message.chat_id)
        return found.join(Chat, Chat.id == Message.chat_id).where(of_user), MESSAGES
    if kind == "assistant":
        usable = usable_clause(Viewer(user_id, searcher.team_ids))
        return select(Assistant.id, Assistant.name, Assistant.description).where(usable), ASSISTANTS
    if kind == "file":
        visible = library.visible_to(LibraryFile, searcher.scope)
        return select(LibraryFile.id, LibraryFile.name).where(visible), FILES
    if kind == "job":
        return select(Job.id, Job.name).where(jobs.visible(searcher.scope)), JOBS
    toolkits = discovery.visible(searcher.user)
    return toolkits.with_only_columns(Toolkit.id, Toolkit.name, Toolkit.description), TOOLKITS


def _hit(kind: HitType, row: tuple[Any, ...], terms: Terms) -> Hit:
    if kind == "message":
        message_id, title, text, chat_id, score = row
        found = snippet(text, terms)
        return Hit(
            type=kind, id=message_id, title=title, snippet=found, score=score, chat_id=chat_id
        )
    identifier, title, *texts, score = row
    text = next((t for t in texts if t and snippet(t, terms).html.count("<mark>")), title)
    return Hit(type=kind, id=identifier, title=title, snippet=snippet(text, terms), score=score)


async def _content_hits(
    session: AsyncSession, searcher: Searcher, text: str, limit: int, content: ContentSearch
) -> Sequence[ContentHit]:
    indexed = exists().where(
        library.visible_to(LibraryFile, searcher.scope), LibraryFile.status == "indexed"
    )
    if not await session.scalar(select(indexed)):
        return []
    return await content(searcher.scope, text, limit)


def _with_content(hits: list[Hit], found: Sequence[ContentHit], terms: Terms) -> list[Hit]:
    """Files found by their text join those found by name (one hit a file, the name's first)."""
    named = {hit.id for hit in hits if hit.type == "file"}
    for passage in found:
        if passage.file_id in named:
            continue
        named.add(passage.file_id)
        hits.append(
            Hit(
                type="file",
                id=passage.file_id,
                title=passage.file_name,
                snippet=snippet(passage.text, terms),
                score=passage.score,
            )
        )
    return hits
