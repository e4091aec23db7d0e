"""Full-text search in the database's own engine: SQLite FTS5 tables, PostgreSQL tsvector + GIN.

A `FullTextIndex` names a table and the text columns it indexes. On SQLite it is an
external-content FTS5 table (`<table>_fts`, rowid = the table's rowid) kept in step by triggers
on insert, update and delete, so every code path that writes the table keeps it current; on
PostgreSQL a generated `search_vector` column with a GIN index. The migrations create both from
the same definition (`create_statements`), and searches use it (`ranked`, `matching`).

A user's words never reach the engine as query syntax: `parse` keeps only the words (letters and
digits) and the query is built from them, each quoted, the last one matched as a prefix (search
as you type). Both engines split text on anything but letters and digits and fold case, without
stemming, so a search finds the same rows on both.

SQLite caveat: an external-content table follows its table's rowids, and `VACUUM` may renumber
the rowids of a table without an INTEGER PRIMARY KEY; after a manual VACUUM rebuild the index
(`INSERT INTO <table>_fts(<table>_fts) VALUES('rebuild')`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    Subquery,
    func,
    literal,
    literal_column,
    select,
    table,
)
from sqlalchemy import column as sql_column
from sqlalchemy.types import Integer

from core.errors import InvalidInput

MAX_QUERY_CHARS = 200
MAX_WORDS = 16
# Text past this many characters of a row is not indexed (PostgreSQL refuses tsvectors over
# 1 MB; a message is seldom longer than this).
MAX_INDEXED_CHARS = 100_000
VECTOR_COLUMN = "search_vector"
# How many matching rows a search ranks, by engine (FullTextIndex.ranked).
CANDIDATES = {"sqlite": 1000, "postgresql": 200}
WORD = re.compile(r"[^\W_]+")
_PG_SEPARATORS = "'[^[:alnum:]]+'"
_SNIPPET_CHARS = 200
_BEFORE_CHARS = 60


# A select of any columns.
Rows = Select[*tuple[Any, ...]]


class InvalidSearch(InvalidInput):
    """The search text is empty or too long (at most 200 characters)."""

    code = "invalid_search"


@dataclass(frozen=True)
class Terms:
    """The words of a search, in order; the last one is matched as a prefix."""

    words: tuple[str, ...]

    def fts5(self) -> str:
        """An FTS5 MATCH expression: every word quoted, the last one a prefix (`"a" "b"*`)."""
        quoted = [f'"{word}"' for word in self.words]
        quoted[-1] += "*"
        return " ".join(quoted)

    def tsquery(self) -> str:
        """A to_tsquery expression: every word quoted, the last one a prefix (`'a' & 'b':*`)."""
        quoted = [f"'{word}'" for word in self.words]
        quoted[-1] += ":*"
        return " & ".join(quoted)


def parse(text: str | None) -> Terms | None:
    """The words to search for; None when the text holds no word at all (nothing matches).

    Raises:
        InvalidSearch: the text is blank or longer than 200 characters.
    """
    text = (text or "").strip()
    if not text or len(text) > MAX_QUERY_CHARS:
        raise InvalidSearch(max_chars=MAX_QUERY_CHARS, chars=len(text))
    return words(text)


def words(text: str) -> Terms | None:
    """The words of a text as search terms, None when it holds none (for callers that take any
    text, such as the chat list's `q`)."""
    found = tuple(word.lower() for word in WORD.findall(text[:MAX_QUERY_CHARS]))[:MAX_WORDS]
    return Terms(found) if found else None


def tsquery(terms: Terms) -> ColumnElement[Any]:
    """PostgreSQL: the words as a tsquery (`Terms.tsquery`, in the indexes' configuration)."""
    return func.to_tsquery(literal_column("'simple'"), terms.tsquery())


def holding(vector_column: str, terms: Terms) -> ColumnElement[bool]:
    """PostgreSQL: a filter on a tsvector column (`table.column`): the rows holding every word."""
    matched: ColumnElement[bool] = literal_column(vector_column).op("@@")(tsquery(terms))
    return matched


@dataclass(frozen=True)
class FullTextIndex:
    """The full-text index of one table over some of its text columns.

    `weights` rank a hit in an earlier column above one in a later column (bm25 column weights on
    SQLite; on PostgreSQL the columns get the labels A, B, C, D in order).
    """

    table: str
    columns: tuple[str, ...]
    weights: tuple[float, ...] = (1.0,)

    @property
    def fts_table(self) -> str:
        """The FTS5 table (SQLite)."""
        return f"{self.table}_fts"

    def create_statements(self, dialect: str) -> list[str]:
        """DDL creating the index and filling it from the rows already there."""
        if dialect == "postgresql":
            parts = [
                f"setweight(to_tsvector('simple', regexp_replace(left(coalesce({name}, ''), "
                f"{MAX_INDEXED_CHARS}), {_PG_SEPARATORS}, ' ', 'g')), '{'ABCD'[min(i, 3)]}')"
                for i, name in enumerate(self.columns)
            ]
            return [
                f"ALTER TABLE {self.table} ADD COLUMN {VECTOR_COLUMN} tsvector "
                f"GENERATED ALWAYS AS ({' || '.join(parts)}) STORED",
                f"CREATE INDEX ix_{self.table}_{VECTOR_COLUMN} ON {self.table} "
                f"USING gin ({VECTOR_COLUMN})",
            ]
        fts, cols = self.fts_table, ", ".join(self.columns)
        new = ", ".join(f"new.{name}" for name in self.columns)
        old = ", ".join(f"old.{name}" for name in self.columns)
        delete = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.rowid, {old});"
        insert = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.rowid, {new});"
        return [
            f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{self.table}', "
            "content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')",
            f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {self.table} BEGIN {insert} END",
            f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {self.table} BEGIN {delete} END",
            f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {cols} ON {self.table} "
            f"BEGIN {delete} {insert} END",
            f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
        ]

    def drop_statements(self, dialect: str) -> list[str]:
        """DDL removing the index."""
        if dialect == "postgresql":
            return [
                f"DROP INDEX IF EXISTS ix_{self.table}_{VECTOR_COLUMN}",
                f"ALTER TABLE {self.table} DROP COLUMN IF EXISTS {VECTOR_COLUMN}",
            ]
        fts = self.fts_table
        verbs = ("insert", "delete", "update")
        triggers = [f"DROP TRIGGER IF EXISTS {fts}_{verb}" for verb in verbs]
        return [*triggers, f"DROP TABLE IF EXISTS {fts}"]

    def matching(self, dialect: str, terms: Terms) -> ColumnElement[bool]:
        """A filter on the table's rows: those holding every word."""
        if dialect == "postgresql":
            return holding(f"{self.table}.{VECTOR_COLUMN}", terms)
        fts = table(self.fts_table, sql_column("rowid"))
        found = select(fts.c.rowid).where(literal_column(self.fts_table).op("MATCH")(terms.fts5()))
        return literal_column(f"{self.table}.rowid").in_(found)

    def ranked(
        self,
        stmt: Rows,
        dialect: str,
        terms: Terms,
        *,
        limit: int,
        newest: Sequence[ColumnElement[Any]] = (),
        candidates: Subquery | CTE | None = None,
    ) -> Rows:
        """`stmt` (selecting from the table, its first column the row's id) narrowed to the rows
        holding every word: the best `limit`, with their relevance added as a last column
        (higher is better), best first; equal scores by id, the higher first (ids sort by
        creation time), so the same search gives the same list.

        Only the newest `CANDIDATES[dialect]` matching rows are ranked (1,000 on SQLite, 200 on
        PostgreSQL); when fewer match, all of them are. The engines score every row they rank,
        and a word most rows hold would otherwise cost a pass over all of them. On SQLite the
        newest are the last written (FTS5 walks its rowids backwards). On PostgreSQL they are
        the first in the order `newest` (columns, each descending; the id when not given),
        which must be total and one an index can walk: for a word most rows hold the plan then
        walks that index, about `CANDIDATES` rows read whatever the table's size, and for a
        rarer word it reads the matches through the full-text index and sorts them; either
        plan gives the same rows. The words and limits are written into the statement (the
        words are letters and digits only; callers write their own filters' values, as
        `assistant.search_everywhere` does the user), so each search is planned for its own
        words: a prepared statement's generic plan, which cannot tell a rare word from one in
        every row, read every match for the commonest word (40 ms at 200,000 messages).

        PostgreSQL: `candidates`, when given, are those first rows found otherwise (a subquery of
        id and words, the row's tsvector; `assistant.message_candidates` for a user's messages).
        """
        if dialect == "postgresql":
            return self._ranked_postgresql(stmt, terms, limit, newest, candidates)
        return self._ranked_sqlite(stmt, terms, limit)

    def _ranked_postgresql(
        self,
        stmt: Rows,
        terms: Terms,
        limit: int,
        newest: Sequence[ColumnElement[Any]],
        candidates: Subquery | CTE | None,
    ) -> Rows:
        """`ranked` on PostgreSQL: ts_rank over the first `CANDIDATES` matches in `newest`'s
        order (or `candidates`), the best `limit` joined back to `stmt`."""
        vector: ColumnElement[Any] = literal_column(f"{self.table}.{VECTOR_COLUMN}")
        query = func.to_tsquery(
            literal_column("'simple'"), literal(terms.tsquery(), literal_execute=True)
        )
        identifier = stmt.selected_columns[0]
        order = [column.desc() for column in newest or (identifier,)]
        # the candidates narrow (id and words; the order's columns are not carried), their
        # scores, and only the best `limit` joined back for the columns asked for
        first = (
            candidates
            if candidates is not None
            else (
                stmt.with_only_columns(identifier.label("id"), vector.label("words"))
                .where(vector.op("@@")(query))
                .order_by(*order)
                .limit(_written(CANDIDATES["postgresql"]))
                .subquery("candidates")
            )
        )
        # normalisation 1: divided by 1 + the log of the row's length, as bm25 weighs length
        scored = func.ts_rank(first.c.words, query, _written(1)).label("score")
        best = (
            select(first.c.id, scored)
            .order_by(scored.desc(), first.c.id.desc())
            .limit(_written(limit))
            .subquery("best")
        )
        found = stmt.add_columns(best.c.score).join(best, identifier == best.c.id)
        return found.order_by(best.c.score.desc(), identifier.desc())

    def _ranked_sqlite(self, stmt: Rows, terms: Terms, limit: int) -> Rows:
        """`ranked` on SQLite: FTS5's bm25 over the last `CANDIDATES` matches written."""
        fts = table(self.fts_table, sql_column("rowid"))
        rank = func.bm25(literal_column(self.fts_table), *self.weights)
        last = (
            stmt.add_columns((-rank).label("score"))
            .join(fts, fts.c.rowid == literal_column(f"{self.table}.rowid"))
            .where(literal_column(self.fts_table).op("MATCH")(terms.fts5()))
            .order_by(fts.c.rowid.desc())
            .limit(CANDIDATES["sqlite"])
            .subquery()
        )
        identifier = next(iter(last.c))
        return select(*last.c).order_by(last.c.score.desc(), identifier.desc()).limit(limit)


def _written(number: int) -> ColumnElement[int]:
    """PostgreSQL: a number written into the statement, not sent as a parameter: a statement
    with none is planned for its own values each time (a LIMIT as a parameter let the prepared
    statement's generic plan, made for any LIMIT, walk all 10,000 of a user's chats for a word
    in 126 titles: 1.8 ms against 0.4)."""
    return literal_column(str(int(number)), Integer())


@dataclass(frozen=True)
class Snippet:
    """A piece of a text around the first matched word, escaped as HTML with the words that
    match in `<mark>` (the only markup), and the same piece as plain text."""

    html: str
    text: str


def _marks(piece: str, terms: Terms) -> list[tuple[int, int]]:
    whole, last = terms.words[:-1], terms.words[-1]
    return [
        word.span()
        for word in WORD.finditer(piece)
        if word.group().lower() in whole or word.group().lower().startswith(last)
    ]


def snippet(text: str, terms: Terms | None, *, chars: int = _SNIPPET_CHARS) -> Snippet:
    """The part of `text` around the first word that matches, on one line, its matches marked."""
    spans = _marks(text, terms) if terms else []
    start = max(0, spans[0][0] - _BEFORE_CHARS) if spans else 0
    if start > 0:
        space = text.find(" ", start, spans[0][0])
        start = space + 1 if space >= 0 else start
    piece = " ".join(text[start : start + chars].split())
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + chars < len(text) else ""
    marked, done = [], 0
    for begin, end in _marks(piece, terms) if terms else []:
        marked += [html.escape(piece[done:begin]), "<mark>", html.escape(piece[begin:end])]
        marked.append("</mark>")
        done = end
    marked.append(html.escape(piece[done:]))
    return Snippet(html=prefix + "".join(marked) + suffix, text=prefix + piece + suffix)
