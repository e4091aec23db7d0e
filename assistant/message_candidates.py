"""PostgreSQL: which of a user's messages `/api/search` ranks when many hold the words.

When more than `core.fulltext.CANDIDATES` (200) of a user's messages match, the first 200 in the
chat list's order are ranked (pinned chats first, latest activity, chat id; a chat's messages
newest first). Through the message index alone that is a read of every match (3,000 rows for a
word in 1 message in 70 at 200,000 messages, and the index holds every user's) or a walk of the
list reading every message of every chat until 200 match. Two plans instead, chosen by `walk`
from the chat list's kept counts (migration assistant_0023: per user, how many chats hold each
word start, and how many chats there are) before the search:

- **walk** the list's order index, testing each chat's kept starts for the words (its part for
  each word's start: a key lookup; a chat whose messages' starts are still pending,
  assistant_0026, is read as if it held them) and reading the messages of only the chats that
  hold them, until 200 match: about 200 x chats / holding chats tests, the same at 1,000
  chats as at 10,000 for a word in a given share of them. A walk tests at most twice the
  chats it should take; one that stops short of 200 (the words in fewer messages than the
  counts said) is followed by a read;
- **read** the matches through the message index, each one's chat looked up by key (not a
  hash of all the user's chats, ~2 ms at 10,000), and keep the first 200: for rarer words.

The counts only choose the plan: both give the same rows (a chat's kept starts are a superset
of what its messages hold: the words but the last must be whole words of one message, and a
title's words or a deleted message's are only extra tests), so a stale count costs time, never
a hit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import CTE, bindparam, column, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import String

from assistant.chat.search import PREFIX_CHARS
from core.fulltext import Terms

# What reading a holding chat's messages costs, in chats tested by their starts (measured on
# bench/search.py's chats of 20 messages: 16 against 3 microseconds).
CHAT_READ = 5

_HOLDS = """EXISTS (SELECT 1 FROM (SELECT p.prefixes FROM assistant_chat_prefixes p
    WHERE p.chat_id = c.id AND p.lo <= :start{n} ORDER BY p.lo DESC LIMIT 1) r
    WHERE r.prefixes @@ assistant_chat_prefixes_query(:start{n}))"""
_PENDING = "EXISTS (SELECT 1 FROM assistant_chat_prefix_pending q WHERE q.chat_id = c.id)"
_COUNT = "CAST(sum(chats) FILTER (WHERE prefix = :start{n}) AS float8)"
_QUERY = "to_tsquery('simple', :query)"

# The user's chats and, when a walk of the list is the cheaper, how many of its chats (in
# order) it may test: twice what it should take, or all of them. Each word's share of messages is
# estimated from its start's share of the user's chats (`k` messages a chat, the tables'
# average) and the words are taken as independent (two words most chats hold may share few
# messages). A walk tests `many` x chats / holding chats (or all of them) and reads the holding
# chats' messages (each read weighed as CHAT_READ tests); a read reads every match, the other
# users' too (the message index holds everyone's): all messages x share. The engine must read the
# words as written, else a chat's starts could miss them.
_PLANNED = """SELECT t.total, CASE
    WHEN CAST(to_tsquery('simple', :query) AS text) = CAST(:query AS text)
    AND w.tests + :chat_read * least(h.holding, :many) <= a.messages * h.share
    THEN least(t.total, ceil(2 * w.tests)) END AS tests
FROM (SELECT CAST(sum(chats) FILTER (WHERE prefix = '') AS float8) AS total, {counts}
      FROM assistant_chat_prefix_counts
      WHERE user_id = :user_id AND archived IN (false, true) AND prefix IN ('', {starts})) t
CROSS JOIN (SELECT greatest(CAST(m.reltuples AS float8), 0) AS messages,
    CASE WHEN m.reltuples > 0 AND c.reltuples > 0
    THEN greatest(1, CAST(m.reltuples AS float8) / c.reltuples) ELSE 1 END AS k
    FROM pg_class m, pg_class c
    WHERE m.oid = 'assistant_message'::regclass AND c.oid = 'assistant_chat'::regclass) a
CROSS JOIN LATERAL (SELECT {share} AS share) s
CROSS JOIN LATERAL (SELECT s.share, t.total * (1 - power(1 - s.share, a.k)) AS holding) h
CROSS JOIN LATERAL (SELECT CASE WHEN h.holding > 0
    THEN least(t.total, :many * t.total / h.holding) ELSE t.total END AS tests) w"""
# A word's share of messages, from its share of chats.
_SHARE = "(1 - power(1 - least(1, coalesce(t.c{n}, 0) / nullif(t.total, 0)), 1 / a.k))"

_WALK = f"""SELECT m.id, m.words FROM (
    SELECT c.id, c.pinned, c.updated_at FROM (
        SELECT c.id, c.pinned, c.updated_at FROM assistant_chat c WHERE c.user_id = :user_id
        ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC LIMIT :tests
    ) c WHERE ({{holds}}) OR {_PENDING}
) c CROSS JOIN LATERAL (
    SELECT m.id, m.created_at, m.search_vector AS words FROM assistant_message m
    WHERE m.chat_id = c.id AND ts_match_vq(m.search_vector, {_QUERY})
    ORDER BY m.created_at DESC, m.id DESC LIMIT :many
) m
ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC, m.created_at DESC, m.id DESC
LIMIT :many"""

_READ = f"""SELECT m.id, m.words FROM (
    SELECT m.id, m.chat_id, m.created_at, m.search_vector AS words FROM assistant_message m
    WHERE m.search_vector @@ {_QUERY} OFFSET 0
) m CROSS JOIN LATERAL (
    SELECT c.pinned, c.updated_at FROM assistant_chat c
    WHERE c.id = m.chat_id AND c.user_id = :user_id OFFSET 0
) c
ORDER BY c.pinned DESC, c.updated_at DESC, m.chat_id DESC, m.created_at DESC, m.id DESC
LIMIT :many"""


@dataclass(frozen=True)
class Walk:
    """A walk of the chat list testing at most `tests` of the user's `chats`."""

    tests: int
    chats: int

    def complete(self, found: int, many: int) -> bool:
        """Whether a walk that found `found` candidates found the first `many`: it filled them,
        or it tested every chat."""
        return found >= many or self.tests >= self.chats


async def walk(
    session: AsyncSession | AsyncConnection, user_id: str, terms: Terms, many: int
) -> Walk | None:
    """How to walk the list for the words, None to read the matches instead (see the module's
    docstring), from the counts."""
    starts = _starts(terms)
    n = range(len(starts))
    planned = _PLANNED.format(
        share=" * ".join(_SHARE.format(n=i) for i in n),
        counts=", ".join(f"{_COUNT.format(n=i)} AS c{i}" for i in n),
        starts=", ".join(f":start{i}" for i in n),
    )
    values: dict[str, object] = {f"start{i}": start for i, start in enumerate(starts)}
    values |= {"query": terms.tsquery(), "many": float(many), "chat_read": float(CHAT_READ)}
    total, tests = (await session.execute(text(planned), values | {"user_id": user_id})).one()
    return None if tests is None else Walk(tests=int(tests), chats=int(total))


def _starts(terms: Terms) -> list[str]:
    """The words' starts as the chat list keeps them: a word longer than PREFIX_CHARS by its
    first PREFIX_CHARS characters (every chat holding it holds those)."""
    return [word[:PREFIX_CHARS] for word in terms.words]


def candidates(user_id: str, terms: Terms, many: int, walk: Walk | None) -> CTE:
    """The first `many` of the user's messages holding the words, in the chat list's order (by
    `walk`, which may stop short: `Walk.complete`; else a read of the matches), as a CTE of (id,
    words: the message's tsvector), for `FullTextIndex.ranked`."""
    starts = _starts(terms)
    if walk is None:
        sql = _READ
    else:
        sql = _WALK.format(holds=" AND ".join(_HOLDS.format(n=i) for i in range(len(starts))))
    # the words and the user are written into the statement (letters and digits only; an id),
    # as `ranked` does, so each search is planned for its own words and user
    words = [
        bindparam("query", terms.tsquery(), String(), literal_execute=True),
        bindparam("many", many, literal_execute=True),
        bindparam("user_id", user_id, String(), literal_execute=True),
    ]
    if walk is not None:
        words.append(bindparam("tests", walk.tests, literal_execute=True))
        words += [
            bindparam(f"start{i}", start, String(), literal_execute=True)
            for i, start in enumerate(starts)
        ]
    found = text(sql).bindparams(*words).columns(column("id", String()), column("words"))
    return found.cte("candidates")
