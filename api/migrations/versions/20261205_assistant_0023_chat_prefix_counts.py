"""chat prefix counts: how many of a user's chats hold each word start, on PostgreSQL

The chat list's `q` of one word finds the chats whose title or messages hold a word starting
with it, and must give their exact number. Through each chat's words (assistant_0020) that is a
read of every matching chat's row: linear in matching chats (90 ms of database CPU for a word in
nearly all of 10,000 chats). Two tables make it a lookup:

- `assistant_chat_prefixes`: a row per chat (its owner, whether archived) with every start of
  every word of its title and messages (`canberra` gives c, ca, can, ..., canberra) as a
  stripped tsvector. "Does this chat match the word w" is `prefixes @@ 'w'`: the same answer
  as the title's or the chat words' `@@ 'w':*` (a word starts with w exactly when w is one of
  its starts; the starts of a shorter word the chat words keep from an append are starts of
  the longer word too). A message written or appended to adds its words' starts (merged with
  the row as it is then: concurrent writers commute); a message corrected, moved or deleted,
  or the chat renamed, makes the chat's starts again from its title and messages, after
  locking its row (so it sees every message whose starts were merged before it; any merged
  after it merge into its result).
- `assistant_chat_prefix_counts`: per (user, archived, start) the number of those rows holding
  the start, and under the start '' the number of rows. Kept by statement triggers on the
  first table only (a row's gains and losses, chat moved or archived: all its starts moved),
  upserting in key order (concurrent writers lock counts in the same order), so the counts
  are the sum of the rows whatever path changed them, a chat's deletion included (its row
  goes by ON DELETE CASCADE).

Starts are at most `PREFIX_CHARS` characters long: every start of a long token (a hash, a
pasted blob) would make a row of its length squared (a tsvector holds at most 1 MB: two words of
1,500 characters in one message made the message's save fail); the chat list searches a longer
word through the chat words. Counts reaching 0 stay (a start a user once wrote). SQLite keeps its
own index (assistant_0018).

Revision ID: assistant_0023
Revises: assistant_0022
Create Date: 2026-12-05 18:40:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "assistant_0023"
down_revision: str | Sequence[str] | None = "assistant_0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROWS = "assistant_chat_prefixes"
COUNTS = "assistant_chat_prefix_counts"
WORDS = "assistant_chat_words"
PREFIX_CHARS = 32  # assistant.chat.search.PREFIX_CHARS
_SPEC = importlib.util.spec_from_file_location(
    "assistant_0020_chat_words", Path(__file__).with_name("20261205_assistant_0020_chat_words.py")
)
assert _SPEC is not None and _SPEC.loader is not None
CHAT_WORDS = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(CHAT_WORDS)

# Every start of every word of the lexemes, up to PREFIX_CHARS characters.
STARTS = f"""CREATE FUNCTION {ROWS}_of(lexemes text[]) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT AS $$
SELECT coalesce(array_to_tsvector(array_agg(DISTINCT left(l.word, n.n))), ''::tsvector)
FROM unnest(lexemes) AS l(word)
CROSS JOIN LATERAL generate_series(1, least(length(l.word), {PREFIX_CHARS})) AS n(n)
$$"""

# A chat's starts made from its title and messages as this statement sees them.
MADE = f"""CREATE FUNCTION {ROWS}_made(chat varchar) RETURNS tsvector
LANGUAGE sql STABLE AS $$
SELECT {ROWS}_of(array(
    SELECT unnest(tsvector_to_array(m.search_vector)) FROM assistant_message m
    WHERE m.chat_id = chat
    UNION SELECT unnest(tsvector_to_array(c.search_vector)) FROM assistant_chat c
    WHERE c.id = chat))
$$"""

# Whether a chat holds the start (`query`: one lexeme, no prefix mark); NULL for no such chat.
# Not inlined (it reads a table), so the planner takes a boolean function's default
# selectivity and walks the list's order index for a page, testing chat by chat.
HOLDS = f"""CREATE FUNCTION assistant_chat_holds(chat varchar, query tsquery) RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$
SELECT prefixes @@ query FROM {ROWS} WHERE chat_id = chat
$$"""

# The counts changed by `{delta}` (rows of user_id, archived, prefix, n), in key order.
COUNTED = f"""INSERT INTO {COUNTS} AS c (user_id, archived, prefix, chats)
SELECT d.user_id, d.archived, d.prefix, sum(d.n) FROM ({{delta}}) d
GROUP BY d.user_id, d.archived, d.prefix HAVING sum(d.n) <> 0
ORDER BY d.user_id, d.archived, d.prefix
ON CONFLICT (user_id, archived, prefix) DO UPDATE SET chats = c.chats + excluded.chats"""

WHOLE = """SELECT r.user_id, r.archived, l.prefix, {n} AS n FROM {rows} r
CROSS JOIN LATERAL unnest(tsvector_to_array(r.prefixes) || ARRAY['']) AS l(prefix)"""

# Rows changed. Moved to another owner or in or out of the archive: all its starts (and '')
# leave the old count and join the new. Else what it gained and, unless it only grew (what it
# kept of the old is all of the old), what it lost. Each row's starts are read once (OFFSET 0
# keeps the planner from repeating the expressions where they are used).
CHANGED = """WITH pairs AS (
    SELECT n.user_id, n.archived, o.user_id AS was_user, o.archived AS was_archived,
           n.prefixes AS now, o.prefixes AS was,
           n.user_id = o.user_id AND n.archived = o.archived AS stayed
    FROM new_rows n JOIN old_rows o ON o.chat_id = n.chat_id OFFSET 0
), kept AS (
    SELECT user_id, archived, now, was, ts_delete(now, tsvector_to_array(was)) AS gained
    FROM pairs WHERE stayed OFFSET 0
)
SELECT user_id, archived, unnest(tsvector_to_array(gained)) AS prefix, 1 AS n FROM kept
UNION ALL
SELECT user_id, archived, unnest(tsvector_to_array(ts_delete(was, tsvector_to_array(now)))), -1
FROM kept WHERE length(now) - length(gained) <> length(was)
UNION ALL
SELECT user_id, archived, unnest(tsvector_to_array(now) || ARRAY['']), 1 FROM pairs
WHERE NOT stayed
UNION ALL
SELECT was_user, was_archived, unnest(tsvector_to_array(was) || ARRAY['']), -1 FROM pairs
WHERE NOT stayed"""

FUNCTION = CHAT_WORDS.FUNCTION

# The words of the messages in `{source}` (chat_id, search_vector): their starts merged into
# their chats' rows, only where that adds one (an unchanged row is not rewritten). The rows are
# locked (LOCK) and so as this statement reads them.
MERGE = f"""UPDATE {ROWS} p SET prefixes = g.merged
FROM (SELECT r.chat_id, r.prefixes || a.prefixes AS merged, length(r.prefixes) AS held
      FROM {ROWS} r JOIN (
          SELECT s.chat_id, {ROWS}_of(array_agg(l.word)) AS prefixes
          FROM {{source}} s
          CROSS JOIN LATERAL unnest(tsvector_to_array(s.search_vector)) AS l(word)
          GROUP BY s.chat_id) a ON a.chat_id = r.chat_id
      OFFSET 0) g
WHERE p.chat_id = g.chat_id AND length(g.merged) > g.held"""

# Lock the rows of the chats in `{chats}`, in order: every message trigger does so first, so
# the writes of a chat's words and starts take turns, each seeing those before it (this also
# keeps two concurrent remakes of one chat's words from writing the same parts twice).
LOCK = f"PERFORM 1 FROM {ROWS} WHERE chat_id IN ({{chats}}) ORDER BY chat_id FOR UPDATE"

# The chats in `{chats}` made again from their title and messages.
REMADE = f"""UPDATE {ROWS} p SET prefixes = m.prefixes
FROM (SELECT chat_id, {ROWS}_made(chat_id) AS prefixes FROM {ROWS}
      WHERE chat_id IN ({{chats}})) m
WHERE p.chat_id = m.chat_id AND p.prefixes <> m.prefixes"""

NEW_ROW = "(SELECT NEW.chat_id AS chat_id, NEW.search_vector AS search_vector)"
ON_UPDATE = f"""{LOCK.format(chats="OLD.chat_id, NEW.chat_id")};
IF NEW.chat_id = OLD.chat_id
   AND starts_with(coalesce(NEW.content, ''), coalesce(OLD.content, '')) THEN
{CHAT_WORDS.ADD.format(source=NEW_ROW)};
{MERGE.format(source=NEW_ROW)};
ELSE
{CHAT_WORDS.REMAKE.format(chats="OLD.chat_id, NEW.chat_id")};
{REMADE.format(chats="OLD.chat_id, NEW.chat_id")};
END IF"""
REMOVED = "SELECT DISTINCT chat_id FROM removed_messages"

ON_CHAT_UPDATE = f"""IF OLD.title IS DISTINCT FROM NEW.title THEN
{LOCK.format(chats="NEW.id")};
{REMADE.format(chats="NEW.id")};
END IF;
UPDATE {ROWS} SET user_id = NEW.user_id, archived = NEW.archived
WHERE chat_id = NEW.id AND (user_id, archived) IS DISTINCT FROM (NEW.user_id, NEW.archived)"""

POSTGRESQL = [
    f"CREATE TABLE {ROWS} ("
    " chat_id VARCHAR(26) NOT NULL PRIMARY KEY REFERENCES assistant_chat (id) ON DELETE CASCADE,"
    " user_id VARCHAR(26) NOT NULL, archived BOOLEAN NOT NULL, prefixes tsvector NOT NULL)",
    f"ALTER TABLE {ROWS} ALTER COLUMN prefixes SET STATISTICS 0",
    # Out of line, not compressed: a chat's starts compress little (~17 kB for 1,700 starts
    # either way) and each read or write would pay for trying.
    f"ALTER TABLE {ROWS} ALTER COLUMN prefixes SET STORAGE EXTERNAL",
    f"CREATE TABLE {COUNTS} ("
    " user_id VARCHAR(26) NOT NULL, archived BOOLEAN NOT NULL, prefix TEXT NOT NULL,"
    " chats INTEGER NOT NULL, PRIMARY KEY (user_id, archived, prefix))",
    STARTS,
    MADE,
    HOLDS,
    f"INSERT INTO {ROWS} (chat_id, user_id, archived, prefixes) "
    f"SELECT c.id, c.user_id, c.archived, {ROWS}_made(c.id) FROM assistant_chat c",
    COUNTED.format(delta=WHOLE.format(rows=ROWS, n=1)),
    FUNCTION.format(
        name=f"{ROWS}_added", body=COUNTED.format(delta=WHOLE.format(rows="new_rows", n=1))
    ),
    FUNCTION.format(name=f"{ROWS}_changed", body=COUNTED.format(delta=CHANGED)),
    FUNCTION.format(
        name=f"{ROWS}_removed", body=COUNTED.format(delta=WHOLE.format(rows="old_rows", n=-1))
    ),
    f"CREATE TRIGGER {ROWS}_insert AFTER INSERT ON {ROWS} REFERENCING NEW TABLE AS new_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {ROWS}_added()",
    f"CREATE TRIGGER {ROWS}_update AFTER UPDATE ON {ROWS} "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {ROWS}_changed()",
    f"CREATE TRIGGER {ROWS}_delete AFTER DELETE ON {ROWS} REFERENCING OLD TABLE AS old_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {ROWS}_removed()",
    FUNCTION.format(
        name=f"{ROWS}_chats_added",
        body=f"INSERT INTO {ROWS} (chat_id, user_id, archived, prefixes) "
        f"SELECT id, user_id, archived, {ROWS}_of(tsvector_to_array(search_vector)) "
        "FROM added_chats",
    ),
    f"CREATE TRIGGER {ROWS}_chat_insert AFTER INSERT ON assistant_chat "
    "REFERENCING NEW TABLE AS added_chats "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {ROWS}_chats_added()",
    FUNCTION.format(name=f"{ROWS}_chat_changed", body=ON_CHAT_UPDATE),
    f"CREATE TRIGGER {ROWS}_chat_update AFTER UPDATE OF title, user_id, archived "
    "ON assistant_chat FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title "
    "OR OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.archived IS DISTINCT FROM NEW.archived) "
    f"EXECUTE FUNCTION {ROWS}_chat_changed()",
    # The chat words' message triggers (assistant_0020) keep the starts too.
    "CREATE OR REPLACE"
    + FUNCTION.removeprefix("CREATE").format(
        name=f"{WORDS}_inserted",
        body=LOCK.format(chats="SELECT chat_id FROM added_messages")
        + ";\n"
        + CHAT_WORDS.ADD.format(source="added_messages")
        + ";\n"
        + MERGE.format(source="added_messages"),
    ),
    "CREATE OR REPLACE"
    + FUNCTION.removeprefix("CREATE").format(name=f"{WORDS}_updated", body=ON_UPDATE),
    "CREATE OR REPLACE"
    + FUNCTION.removeprefix("CREATE").format(
        name=f"{WORDS}_deleted",
        body=";\n".join(
            (
                LOCK.format(chats=REMOVED),
                CHAT_WORDS.REMAKE.format(chats=REMOVED),
                REMADE.format(chats=REMOVED),
            )
        ),
    ),
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The chat words' message triggers as assistant_0020 made them.
    for statement in CHAT_WORDS.POSTGRESQL:
        if statement.startswith("CREATE FUNCTION") and "RETURNS trigger" in statement:
            op.execute("CREATE OR REPLACE" + statement.removeprefix("CREATE"))
    for trigger in ("chat_insert", "chat_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {ROWS}_{trigger} ON assistant_chat")
    op.execute(f"DROP TABLE IF EXISTS {ROWS}")
    op.execute(f"DROP TABLE IF EXISTS {COUNTS}")
    for function in ("added", "changed", "removed", "chats_added", "chat_changed"):
        op.execute(f"DROP FUNCTION IF EXISTS {ROWS}_{function}()")
    op.execute("DROP FUNCTION IF EXISTS assistant_chat_holds(varchar, tsquery)")
    op.execute(f"DROP FUNCTION IF EXISTS {ROWS}_made(varchar)")
    op.execute(f"DROP FUNCTION IF EXISTS {ROWS}_of(text[])")
