"""chat words: which chats hold a word, on PostgreSQL, without reading every message that does

The chat list's `q` must find every one of a user's chats with a message holding the words, to
count and page them. Through the message index alone that reads each matching message's row for
its chat id: 0.3-0.7 s at 10,000 chats x 20 messages for a word in many of them. This table holds
each chat's distinct words (stripped tsvectors, GIN-indexed) in parts of at most `PART_WORDS`
words, so "which chats hold the word" is a read of the index and of one small row per part:

- a message written adds its words the chat's latest part lacks (to that part, or to a new one
  when it would grow past `PART_WORDS`: a write costs the latest part, not the chat's history);
- a message's text changed by appending to it (an answer streaming, checkpoint by checkpoint)
  adds its words likewise. The word the old text ended in may have grown ("canb" into
  "canberra") and is kept: the chat list searches a single word as a prefix, and whatever a
  kept shorter word matches as a prefix, the longer one the chat holds matches too;
- a message's text changed otherwise (an answer corrected) or a message deleted makes its
  chat's words again from its messages (a chat deleted takes its words with it).

SQLite has its own index of messages by chat (assistant_0018); nothing is made there.

Searches go through `assistant_chat_words_holding(tsquery)`, which plans its query with sequential
and plain index scans off: the planner, which does not count the cost of reading TOASTed values,
would otherwise filter the chats' words row by row (each a TOASTed value read: 130-180 ms for
10,000 chats) instead of reading the GIN index (3 ms for the same 10,000 chats) whenever the
table is small or the word common. The words column has no statistics (`SET STATISTICS 0`) for
the same reason.

Revision ID: assistant_0020
Revises: assistant_0019
Create Date: 2026-12-05 16:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "assistant_0020"
down_revision: str | Sequence[str] | None = "assistant_0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "assistant_chat_words"
PART_WORDS = 500

# The words of the messages in `{source}` (rows with chat_id and search_vector) that each chat's
# latest part lacks, added to it, or as a new part when it would outgrow PART_WORDS. The update
# on conflict merges with the row as it is now (a concurrent writer's words are kept).
ADD = f"""
WITH added AS (
    SELECT s.chat_id, array_to_tsvector(array_agg(DISTINCT l.word)) AS words
    FROM {{source}} s CROSS JOIN LATERAL unnest(tsvector_to_array(s.search_vector)) AS l(word)
    GROUP BY s.chat_id
), latest AS (
    SELECT DISTINCT ON (w.chat_id) w.chat_id, w.part, w.words
    FROM {TABLE} w WHERE w.chat_id IN (SELECT chat_id FROM added)
    ORDER BY w.chat_id, w.part DESC
), fresh AS (
    SELECT a.chat_id, l.part, length(l.words) AS held,
           CASE WHEN l.words IS NULL THEN a.words
                ELSE ts_delete(a.words, tsvector_to_array(l.words)) END AS words
    FROM added a LEFT JOIN latest l ON l.chat_id = a.chat_id
)
INSERT INTO {TABLE} AS w (chat_id, part, words)
SELECT f.chat_id,
       CASE WHEN f.part IS NULL THEN 0
            WHEN f.held + length(f.words) <= {PART_WORDS} THEN f.part
            ELSE f.part + 1 END,
       f.words
FROM fresh f WHERE length(f.words) > 0
ON CONFLICT (chat_id, part) DO UPDATE SET words = w.words || excluded.words
"""

# The words of the chats in `{chats}` made again from their messages (none for a chat that is
# gone), in parts of PART_WORDS.
FILL = f"""
INSERT INTO {TABLE} (chat_id, part, words)
SELECT d.chat_id, d.n / {PART_WORDS}, array_to_tsvector(array_agg(d.word))
FROM (
    SELECT u.chat_id, u.word,
           row_number() OVER (PARTITION BY u.chat_id ORDER BY u.word) - 1 AS n
    FROM (
        SELECT DISTINCT m.chat_id, l.word
        FROM assistant_message m JOIN assistant_chat c ON c.id = m.chat_id
        CROSS JOIN LATERAL unnest(tsvector_to_array(m.search_vector)) AS l(word)
        WHERE m.chat_id IN ({{chats}})
    ) u
) d
GROUP BY d.chat_id, d.n / {PART_WORDS}
"""
REMAKE = f"DELETE FROM {TABLE} WHERE chat_id IN ({{chats}});\n" + FILL

FUNCTION = """CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{body};
RETURN NULL;
END
$$"""

ON_UPDATE = f"""IF NEW.chat_id = OLD.chat_id
   AND starts_with(coalesce(NEW.content, ''), coalesce(OLD.content, '')) THEN
{ADD.format(source="(SELECT NEW.chat_id AS chat_id, NEW.search_vector AS search_vector)")};
ELSE
{REMAKE.format(chats="OLD.chat_id, NEW.chat_id")};
END IF"""

POSTGRESQL = [
    f"CREATE TABLE {TABLE} ("
    " chat_id VARCHAR(26) NOT NULL REFERENCES assistant_chat (id) ON DELETE CASCADE,"
    " part INTEGER NOT NULL, words tsvector NOT NULL, PRIMARY KEY (chat_id, part))",
    f"ALTER TABLE {TABLE} ALTER COLUMN words SET STATISTICS 0",
    f"CREATE INDEX ix_{TABLE}_words ON {TABLE} USING gin (words)",
    f"CREATE FUNCTION {TABLE}_holding(query tsquery) RETURNS SETOF varchar "
    "LANGUAGE sql STABLE SET enable_seqscan = off SET enable_indexscan = off "
    f"AS $$ SELECT chat_id FROM {TABLE} WHERE words @@ query $$",
    FUNCTION.format(name=f"{TABLE}_inserted", body=ADD.format(source="added_messages")),
    FUNCTION.format(name=f"{TABLE}_updated", body=ON_UPDATE),
    FUNCTION.format(
        name=f"{TABLE}_deleted",
        body=REMAKE.format(chats="SELECT DISTINCT chat_id FROM removed_messages"),
    ),
    f"CREATE TRIGGER {TABLE}_insert AFTER INSERT ON assistant_message "
    "REFERENCING NEW TABLE AS added_messages "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_inserted()",
    f"CREATE TRIGGER {TABLE}_update AFTER UPDATE OF content, chat_id ON assistant_message "
    "FOR EACH ROW WHEN (OLD.content IS DISTINCT FROM NEW.content "
    f"OR OLD.chat_id IS DISTINCT FROM NEW.chat_id) EXECUTE FUNCTION {TABLE}_updated()",
    f"CREATE TRIGGER {TABLE}_delete AFTER DELETE ON assistant_message "
    "REFERENCING OLD TABLE AS removed_messages "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_deleted()",
    FILL.format(chats="SELECT id FROM assistant_chat"),
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for verb in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_{verb} ON assistant_message")
    for verb in ("inserted", "updated", "deleted"):
        op.execute(f"DROP FUNCTION IF EXISTS {TABLE}_{verb}()")
    op.execute(f"DROP FUNCTION IF EXISTS {TABLE}_holding(tsquery)")
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
