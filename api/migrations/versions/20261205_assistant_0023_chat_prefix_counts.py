"""chat prefix counts: how many of a user's chats hold each word start, on PostgreSQL

The chat list's `q` of one word finds the chats whose title or messages hold a word starting
with it, and must give their exact number. Through each chat's words (assistant_0020) that is a
read of every matching chat's row: linear in matching chats (90 ms of database CPU for a word in
nearly all of 10,000 chats). Two tables make it a lookup:

- `assistant_chat_prefixes`: per chat (its owner, whether archived) every start of every word
  of its title and messages (`canberra` gives c, ca, can, ..., canberra) as stripped tsvectors,
  in parts by range: a part holds the starts from its `lo` up to the next part's (the first
  part's `lo` is ''), at most `SPLIT_STARTS` of them (a few kB, kept in the row). "Does this
  chat match the word w" is `prefixes @@ 'w'` in w's part: the same answer as the title's or
  the chat words' `@@ 'w':*` (a word starts with w exactly when w is one of its starts; the
  starts of a shorter word the chat words keep from an append are starts of the longer word
  too). A message written or appended to looks each of its starts up in its part and adds the
  missing ones there, splitting a part grown past SPLIT_STARTS: its cost follows the message,
  not the chat's history (a row per chat rewrote, and diffed, all of the chat's starts,
  200 kB at 2,000 messages, whenever a message brought a new one). A message corrected, moved
  or deleted, or the chat renamed, makes the chat's parts again from its title and messages.
  Every writer first locks the chat's first part, so they take turns, each seeing the starts
  written before it.
- `assistant_chat_prefix_counts`: per (user, archived, start) the number of chats holding the
  start (a chat's parts share none), and under the start '' the number of chats (first
  parts). Kept by statement triggers on the first table only (a part's gains and losses, chat
  moved or archived: all its starts moved), upserting in key order (concurrent writers lock
  counts in the same order), so the counts are the sum of the parts whatever path changed
  them, a chat's deletion included (its parts go by ON DELETE CASCADE).

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
PART_STARTS = 128
SPLIT_STARTS = 2 * PART_STARTS
_SPEC = importlib.util.spec_from_file_location(
    "assistant_0020_chat_words", Path(__file__).with_name("20261205_assistant_0020_chat_words.py")
)
assert _SPEC is not None and _SPEC.loader is not None
CHAT_WORDS = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(CHAT_WORDS)

# The part of the chat whose range holds `{start}` (the one with the greatest `lo` not after it).
PART_OF = f"""SELECT p.lo, p.prefixes FROM {ROWS} p
WHERE p.chat_id = {{chat}} AND p.lo <= {{start}} COLLATE "C" ORDER BY p.lo DESC LIMIT 1"""

# Whether a chat holds the start (one lexeme): its part for it does. Not inlined (it reads a
# table), so the planner takes a boolean function's default selectivity and walks the list's
# order index for a page, testing chat by chat.
HOLDS = f"""CREATE FUNCTION assistant_chat_holds(chat varchar, start text) RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$
SELECT r.prefixes @@ {ROWS}_query(start) FROM ({PART_OF.format(chat="chat", start="start")}) r
$$"""

# The start as a one-lexeme tsquery (quoted: a lexeme may hold any character).
QUERY = f"""CREATE FUNCTION {ROWS}_query(start text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT AS $$
SELECT ('''' || replace(replace(start, '\\', '\\\\'), '''', '''''') || '''')::tsquery
$$"""

# Every start (up to PREFIX_CHARS characters) of the words in `{lexemes}` (chat_id, word).
# (A constant series: the planner then knows it is short and looks the parts up by key.)
STARTS_OF = f"""SELECT DISTINCT w.chat_id, left(w.word, n.n) AS start FROM ({{lexemes}}) w
JOIN generate_series(1, {PREFIX_CHARS}) AS n(n) ON n.n <= length(w.word)"""
MESSAGE_WORDS = """SELECT m.chat_id, l.word FROM {source} m
CROSS JOIN LATERAL unnest(tsvector_to_array(m.search_vector)) AS l(word)"""

# The counts changed by `{delta}` (rows of user_id, archived, prefix, n), in key order.
COUNTED = f"""INSERT INTO {COUNTS} AS c (user_id, archived, prefix, chats)
SELECT d.user_id, d.archived, d.prefix, sum(d.n) FROM ({{delta}}) d
GROUP BY d.user_id, d.archived, d.prefix HAVING sum(d.n) <> 0
ORDER BY d.user_id, d.archived, d.prefix
ON CONFLICT (user_id, archived, prefix) DO UPDATE SET chats = c.chats + excluded.chats"""
# A counts trigger's body: none while SPLIT moves starts between a chat's parts.
SPLITTING = "assistant.chat_prefixes_splitting"
COUNTING = f"""IF current_setting('{SPLITTING}', true) IS DISTINCT FROM 'on' THEN
{{counted}};
END IF"""

# Every start of the parts in `{rows}`, and '' for each chat's first part.
CHAT = "CASE WHEN {row}.lo = '' THEN ARRAY[''] ELSE ARRAY[]::text[] END"
WHOLE = f"""SELECT r.user_id, r.archived, l.prefix, {{n}} AS n FROM {{rows}} r
CROSS JOIN LATERAL unnest(tsvector_to_array(r.prefixes) || {CHAT.format(row="r")}) AS l(prefix)"""

# Parts changed. Moved to another owner or in or out of the archive: all its starts (and '' for
# its first part) leave the old count and join the new. Else what it gained and, unless it only
# grew, what it lost. A part holds at most SPLIT_STARTS starts: the diff is bounded, whatever
# the chat's size. OFFSET 0 keeps the planner from repeating the expressions where they are used.
CHANGED = f"""WITH pairs AS (
    SELECT n.user_id, n.archived, o.user_id AS was_user, o.archived AS was_archived,
           n.prefixes AS now, o.prefixes AS was, {CHAT.format(row="n")} AS chat,
           n.user_id = o.user_id AND n.archived = o.archived AS stayed
    FROM new_rows n JOIN old_rows o ON o.chat_id = n.chat_id AND o.lo = n.lo OFFSET 0
), kept AS (
    SELECT user_id, archived, now, was, ts_delete(now, tsvector_to_array(was)) AS gained
    FROM pairs WHERE stayed OFFSET 0
)
SELECT user_id, archived, unnest(tsvector_to_array(gained)) AS prefix, 1 AS n FROM kept
UNION ALL
SELECT user_id, archived, unnest(tsvector_to_array(ts_delete(was, tsvector_to_array(now)))), -1
FROM kept WHERE length(now) - length(gained) <> length(was)
UNION ALL
SELECT user_id, archived, unnest(tsvector_to_array(now) || chat), 1 FROM pairs
WHERE NOT stayed
UNION ALL
SELECT was_user, was_archived, unnest(tsvector_to_array(was) || chat), -1 FROM pairs
WHERE NOT stayed"""

FUNCTION = CHAT_WORDS.FUNCTION
# A message trigger that merges starts (MERGE's `grown`).
MERGING = """CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE grown integer;
BEGIN
{body};
RETURN NULL;
END
$$"""

# The starts of the messages in `{source}` (chat_id, search_vector) that their chat's part for
# each (looked up by its range: bounded, whatever the chat's size) lacks, added to those parts.
# The chats' first parts were locked (LOCK), so this statement sees every start written before.
# `grown`: the most starts a part holds now (whether to SPLIT).
MERGE = f"""WITH merged AS (
UPDATE {ROWS} p SET prefixes = p.prefixes || a.added
FROM (
    SELECT f.chat_id, f.lo, array_to_tsvector(array_agg(f.start)) AS added FROM (
        SELECT s.chat_id, s.start, r.lo, r.prefixes @@ {ROWS}_query(s.start) AS held
        FROM ({STARTS_OF.format(lexemes=MESSAGE_WORDS)}) s
        CROSS JOIN LATERAL ({PART_OF.format(chat="s.chat_id", start="s.start")}) r OFFSET 0
    ) f WHERE NOT f.held GROUP BY f.chat_id, f.lo
) a
WHERE p.chat_id = a.chat_id AND p.lo = a.lo
RETURNING length(p.prefixes) AS held)
SELECT coalesce(max(held), 0) INTO grown FROM merged"""

# The parts of the chats in `{chats}` grown past SPLIT_STARTS (a part gets the new starts of
# its range) split by their order into parts of PART_STARTS: all but the first new parts, each
# from its first start, then the first kept as the old part. Only when MERGE grew one so far.
# Starts only move between one chat's parts: the counts triggers skip these two statements.
SPLIT = f"""IF grown > {SPLIT_STARTS} THEN
PERFORM set_config('{SPLITTING}', 'on', true);
INSERT INTO {ROWS} (chat_id, lo, user_id, archived, prefixes)
SELECT h.chat_id, min(h.start COLLATE "C"), h.user_id, h.archived,
       array_to_tsvector(array_agg(h.start))
FROM (
    SELECT b.chat_id, b.lo, b.user_id, b.archived, s.start,
           (row_number() OVER (PARTITION BY b.chat_id, b.lo ORDER BY s.start COLLATE "C") - 1)
               / {PART_STARTS} AS chunk
    FROM {ROWS} b CROSS JOIN LATERAL unnest(tsvector_to_array(b.prefixes)) AS s(start)
    WHERE b.chat_id IN ({{chats}}) AND length(b.prefixes) > {SPLIT_STARTS}
) h WHERE h.chunk > 0 GROUP BY h.chat_id, h.lo, h.chunk, h.user_id, h.archived;
UPDATE {ROWS} p SET prefixes = (
    SELECT array_to_tsvector(array_agg(f.start)) FROM (
        SELECT s.start FROM unnest(tsvector_to_array(p.prefixes)) AS s(start)
        ORDER BY s.start COLLATE "C" LIMIT {PART_STARTS}) f)
WHERE p.chat_id IN ({{chats}}) AND length(p.prefixes) > {SPLIT_STARTS};
PERFORM set_config('{SPLITTING}', '', true);
END IF"""

# Lock the first part of the chats in `{chats}`, in order: every message trigger does so first,
# so the writes of a chat's words and starts take turns, each seeing those before it (this also
# keeps two concurrent remakes of one chat's words from writing the same parts twice).
LOCK = f"PERFORM 1 FROM {ROWS} WHERE chat_id IN ({{chats}}) AND lo = '' ORDER BY chat_id FOR UPDATE"

# The starts of the chats in `{chats}` made from their title and messages, in parts of
# PART_STARTS by their order (an empty first part for a chat without words), written over the
# parts there are.
MADE = f"""WITH lexemes AS (
    {MESSAGE_WORDS.format(source="assistant_message")} WHERE m.chat_id IN ({{chats}})
    UNION SELECT c.id, l.word FROM assistant_chat c
    CROSS JOIN LATERAL unnest(tsvector_to_array(c.search_vector)) AS l(word)
    WHERE c.id IN ({{chats}})
), numbered AS (
    SELECT s.chat_id, s.start,
           (row_number() OVER (PARTITION BY s.chat_id ORDER BY s.start COLLATE "C") - 1)
               / {PART_STARTS} AS part
    FROM ({STARTS_OF.format(lexemes="SELECT chat_id, word FROM lexemes")}) s
), parts AS (
    SELECT chat_id, CASE WHEN part = 0 THEN '' ELSE min(start COLLATE "C") END AS lo,
           array_to_tsvector(array_agg(start)) AS prefixes
    FROM numbered GROUP BY chat_id, part
    UNION ALL SELECT c.id, '', ''::tsvector FROM assistant_chat c
    WHERE c.id IN ({{chats}}) AND NOT EXISTS (SELECT 1 FROM numbered n WHERE n.chat_id = c.id)
)
INSERT INTO {ROWS} AS p (chat_id, lo, user_id, archived, prefixes)
SELECT s.chat_id, s.lo, c.user_id, c.archived, s.prefixes
FROM parts s JOIN assistant_chat c ON c.id = s.chat_id ORDER BY s.chat_id, s.lo
ON CONFLICT (chat_id, lo) DO UPDATE SET prefixes = excluded.prefixes
WHERE p.prefixes <> excluded.prefixes"""
# Made again: the parts but the first removed first (the starts may now fill fewer parts).
REMADE = f"DELETE FROM {ROWS} WHERE chat_id IN ({{chats}}) AND lo <> '';\n" + MADE

NEW_ROW = "(SELECT NEW.chat_id AS chat_id, NEW.search_vector AS search_vector)"
ON_UPDATE = f"""{LOCK.format(chats="OLD.chat_id, NEW.chat_id")};
IF NEW.chat_id = OLD.chat_id
   AND starts_with(coalesce(NEW.content, ''), coalesce(OLD.content, '')) THEN
{CHAT_WORDS.ADD.format(source=NEW_ROW)};
{MERGE.format(source=NEW_ROW)};
{SPLIT.format(chats="NEW.chat_id")};
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
    " chat_id VARCHAR(26) NOT NULL REFERENCES assistant_chat (id) ON DELETE CASCADE,"
    ' lo TEXT COLLATE "C" NOT NULL, user_id VARCHAR(26) NOT NULL, archived BOOLEAN NOT NULL,'
    " prefixes tsvector NOT NULL, PRIMARY KEY (chat_id, lo))",
    f"ALTER TABLE {ROWS} ALTER COLUMN prefixes SET STATISTICS 0",
    # Parts stay in the row, uncompressed, up to a page: each start written is looked up in one.
    f"ALTER TABLE {ROWS} SET (toast_tuple_target = 8160)",
    f"CREATE TABLE {COUNTS} ("
    " user_id VARCHAR(26) NOT NULL, archived BOOLEAN NOT NULL, prefix TEXT NOT NULL,"
    " chats INTEGER NOT NULL, PRIMARY KEY (user_id, archived, prefix))",
    QUERY,
    HOLDS,
    MADE.format(chats="SELECT id FROM assistant_chat"),
    COUNTED.format(delta=WHOLE.format(rows=ROWS, n=1)),
    FUNCTION.format(
        name=f"{ROWS}_added",
        body=COUNTING.format(counted=COUNTED.format(delta=WHOLE.format(rows="new_rows", n=1))),
    ),
    FUNCTION.format(
        name=f"{ROWS}_changed", body=COUNTING.format(counted=COUNTED.format(delta=CHANGED))
    ),
    FUNCTION.format(
        name=f"{ROWS}_removed",
        body=COUNTING.format(counted=COUNTED.format(delta=WHOLE.format(rows="old_rows", n=-1))),
    ),
    f"CREATE TRIGGER {ROWS}_insert AFTER INSERT ON {ROWS} REFERENCING NEW TABLE AS new_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {ROWS}_added()",
    f"CREATE TRIGGER {ROWS}_update AFTER UPDATE ON {ROWS} "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {ROWS}_changed()",
    f"CREATE TRIGGER {ROWS}_delete AFTER DELETE ON {ROWS} REFERENCING OLD TABLE AS old_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {ROWS}_removed()",
    FUNCTION.format(
        name=f"{ROWS}_chats_added", body=MADE.format(chats="SELECT id FROM added_chats")
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
    MERGING.format(
        name=f"{WORDS}_inserted",
        body=LOCK.format(chats="SELECT chat_id FROM added_messages")
        + ";\n"
        + CHAT_WORDS.ADD.format(source="added_messages")
        + ";\n"
        + MERGE.format(source="added_messages")
        + ";\n"
        + SPLIT.format(chats="SELECT chat_id FROM added_messages"),
    ),
    MERGING.format(name=f"{WORDS}_updated", body=ON_UPDATE),
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
    op.execute("DROP FUNCTION IF EXISTS assistant_chat_holds(varchar, text)")
    op.execute(f"DROP FUNCTION IF EXISTS {ROWS}_query(text)")
