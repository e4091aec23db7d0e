"""chat starts pending: a message's word starts and counts merged later, in batches, not on save

Every message saved and every append to it (an answer's checkpoints) ran the message triggers of
assistant_0023: each of the message's words broken into all its starts (up to `PREFIX_CHARS`),
each start looked up in the chat's part for it, the new ones added and counted per user; an
append did so for the whole message again, checkpoint after checkpoint. 2.7-4.7 ms of database
CPU a save + append on PostgreSQL against 0.8-1.4 ms with assistant_0020's chat words alone
(`bench/history_writes.py`, `bench/search.py --writes`). Now:

- a message saved keeps its chat's words as before (assistant_0020, which the search through the
  chat words reads) and puts its lexemes in `assistant_chat_prefix_pending` (one row, in the
  same transaction as the message: a killed server leaves nothing half done);
- an append does the same for only the lexemes its text gained (those it had are in the chat's
  words already, or pending); an append that gains none (most of an answer's checkpoints)
  returns at once;
- `assistant_chat_prefixes_drain(user, most)` merges pending rows into the chat's starts (each
  chat's words looked up whole first: a chat's starts hold every start of every start they hold,
  so a word found brings nothing; only the others are broken into starts) and so into the
  counts, as assistant_0023's merge did, then deletes them: many messages of a chat (a streamed
  answer's checkpoints) at once. The chat list drains the user's pending rows before it reads
  the counts (`assistant.chat.search.listing`), so its totals and pages are exact; a background
  task drains everyone's (`assistant.chat.search.drain_forever`), so the list rarely has any.
- A correction, move, delete or rename makes the chat's words and starts again from its messages
  (unchanged) and drops the chat's pending rows (the remade starts hold their words, or the
  words went with the message).

Every writer of a chat's words, starts or pending rows, the drain included, first locks the
chat's first part of starts (assistant_0023), so they take turns, each seeing the rows written
before it; the drain locks its chats in order. The counts' triggers now first take a lock per
user whose counts they change (in one order), so one transaction at a time changes a user's
counts: a drain in the background (one statement) could otherwise deadlock with a transaction
changing them in several (a remake, or chats created one statement each). Nothing is pending
on upgrade (the triggers of assistant_0023 kept everything merged); on downgrade the pending
rows are drained first.

Revision ID: assistant_0026
Revises: assistant_0024
Create Date: 2026-12-05 21:40:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "assistant_0026"
down_revision: str | Sequence[str] | None = "assistant_0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _migration(name: str) -> ModuleType:
    path = next(Path(__file__).parent.glob(f"*_{name}_*.py"))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PRIOR = _migration("assistant_0023")
CHAT_WORDS = PRIOR.CHAT_WORDS
ROWS, WORDS, PREFIX_CHARS = PRIOR.ROWS, PRIOR.WORDS, PRIOR.PREFIX_CHARS
PART_WORDS = CHAT_WORDS.PART_WORDS
PENDING = "assistant_chat_prefix_pending"
DRAIN = f"{ROWS}_drain"

# The words of the messages in `{source}` (chat_id, search_vector) that each chat's latest part
# of words lacks, added to it or as a new part (assistant_0020's ADD, the latest part read by
# its key rather than all of the chat's parts read and sorted).
ADD = f"""
WITH added AS (
    SELECT s.chat_id, array_to_tsvector(array_agg(DISTINCT l.word)) AS words
    FROM {{source}} s CROSS JOIN LATERAL unnest(tsvector_to_array(s.search_vector)) AS l(word)
    GROUP BY s.chat_id
), fresh AS (
    SELECT a.chat_id, l.part, length(l.words) AS held,
           CASE WHEN l.words IS NULL THEN a.words
                ELSE ts_delete(a.words, tsvector_to_array(l.words)) END AS words
    FROM added a LEFT JOIN LATERAL (
        SELECT w.part, w.words FROM {WORDS} w WHERE w.chat_id = a.chat_id
        ORDER BY w.part DESC LIMIT 1
    ) l ON true
)
INSERT INTO {WORDS} AS w (chat_id, part, words)
SELECT f.chat_id,
       CASE WHEN f.part IS NULL THEN 0
            WHEN f.held + length(f.words) <= {PART_WORDS} THEN f.part
            ELSE f.part + 1 END,
       f.words
FROM fresh f WHERE length(f.words) > 0
ON CONFLICT (chat_id, part) DO UPDATE SET words = w.words || excluded.words
"""

# The messages in `{source}` pending for their chats' starts.
PEND = f"""INSERT INTO {PENDING} (chat_id, words)
SELECT s.chat_id, strip(s.search_vector) FROM {{source}} s WHERE length(s.search_vector) > 0"""
UNPEND = f"DELETE FROM {PENDING} WHERE chat_id IN ({{chats}})"

# The words (their first PREFIX_CHARS characters) in `{source}` whose chat's part for them does
# not hold them, into `unheld_chats` and `unheld_words`: a start held means all of its starts
# are (a word's starts are written together).
UNHELD = f"""SELECT array_agg(w.chat_id), array_agg(w.word) INTO unheld_chats, unheld_words FROM (
    SELECT DISTINCT m.chat_id, left(l.word, {PREFIX_CHARS}) AS word FROM {{source}} m
    CROSS JOIN LATERAL unnest(tsvector_to_array(m.search_vector)) AS l(word)
) w CROSS JOIN LATERAL ({PRIOR.PART_OF.format(chat="w.chat_id", start="w.word")}) r
WHERE NOT r.prefixes @@ {ROWS}_query(w.word)"""

# Their starts merged into the chats' parts (assistant_0023's MERGE and SPLIT; the counts follow
# by assistant_0023's triggers on the parts), when any.
UNNESTED = (
    "(SELECT u.chat_id, array_to_tsvector(ARRAY[u.word]) AS search_vector "
    "FROM unnest(unheld_chats, unheld_words) AS u(chat_id, word))"
)
MERGE_UNHELD = f"""IF unheld_chats IS NOT NULL THEN
{PRIOR.MERGE.format(source=UNNESTED)};
{PRIOR.SPLIT.format(chats="SELECT DISTINCT u.c FROM unnest(unheld_chats) AS u(c)")};
END IF"""

# The pending rows of `owner`'s chats (everyone's when NULL), of at most `most` chats (all when
# NULL), their first parts locked in order, merged and deleted. Returns how many chats. The
# chats are found from the pending rows (each one's owner looked up by key), never from the
# owner's chats: the cost follows what is pending, not how many chats the owner has.
DRAINING = f"""CREATE OR REPLACE FUNCTION {DRAIN}(owner varchar, most integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    grown integer := 0;
    drained varchar[];
    unheld_chats varchar[];
    unheld_words text[];
BEGIN
SELECT array_agg(l.chat_id) INTO drained FROM (
    SELECT DISTINCT q.chat_id FROM {PENDING} q
    WHERE owner IS NULL OR (SELECT c.user_id FROM assistant_chat c WHERE c.id = q.chat_id) = owner
    ORDER BY q.chat_id LIMIT most
) d CROSS JOIN LATERAL (
    SELECT p.chat_id FROM {ROWS} p WHERE p.chat_id = d.chat_id AND p.lo = '' FOR UPDATE
) l;
IF drained IS NULL THEN
    RETURN 0;
END IF;
WITH taken AS (
    DELETE FROM {PENDING} q WHERE q.chat_id = ANY(drained)
    RETURNING q.chat_id, q.words AS search_vector
)
{UNHELD.format(source="taken")};
{MERGE_UNHELD};
RETURN cardinality(drained);
END
$$"""

DECLARED = """CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gained_words tsvector;
BEGIN
{body};
RETURN NULL;
END
$$"""

INSERTED = ";\n".join(
    (
        PRIOR.LOCK.format(chats="SELECT chat_id FROM added_messages"),
        ADD.format(source="added_messages"),
        PEND.format(source="added_messages"),
    )
)

# An append: the lexemes the text gained (a word grown at the join, "canb" into "canberra", is
# one of them); none, nothing to do (the message's words were put in the chat's words and
# pending, or merged, with the text they came with; a remake reads the message as committed).
GAINED = "(SELECT NEW.chat_id AS chat_id, gained_words AS search_vector)"
BOTH = "OLD.chat_id, NEW.chat_id"
UPDATED = f"""IF NEW.chat_id = OLD.chat_id
   AND starts_with(coalesce(NEW.content, ''), coalesce(OLD.content, '')) THEN
gained_words := ts_delete(
    strip(NEW.search_vector), coalesce(tsvector_to_array(OLD.search_vector), '{{}}'));
IF gained_words IS NULL OR length(gained_words) = 0 THEN
    RETURN NULL;
END IF;
{PRIOR.LOCK.format(chats="NEW.chat_id")};
{ADD.format(source=GAINED)};
{PEND.format(source=GAINED)};
ELSE
{PRIOR.LOCK.format(chats=BOTH)};
{UNPEND.format(chats=BOTH)};
{CHAT_WORDS.REMAKE.format(chats=BOTH)};
{PRIOR.REMADE.format(chats=BOTH)};
END IF"""

DELETED = ";\n".join(
    (
        PRIOR.LOCK.format(chats=PRIOR.REMOVED),
        UNPEND.format(chats=PRIOR.REMOVED),
        CHAT_WORDS.REMAKE.format(chats=PRIOR.REMOVED),
        PRIOR.REMADE.format(chats=PRIOR.REMOVED),
    )
)

CHAT_CHANGED = PRIOR.ON_CHAT_UPDATE.replace(
    f"{PRIOR.REMADE.format(chats='NEW.id')}",
    f"{UNPEND.format(chats='NEW.id')};\n{PRIOR.REMADE.format(chats='NEW.id')}",
)
assert CHAT_CHANGED != PRIOR.ON_CHAT_UPDATE

# The counts' triggers (assistant_0023), each first taking a transaction lock per user whose
# counts it changes, in one order: a user's counts are changed by one transaction at a time. A
# transaction changing them in several statements (a remake: the parts deleted, then written;
# chats created one statement each) had taken count rows in several passes, each in key order
# but not as a whole, so a concurrent drain (one pass) could deadlock with it.
COUNTS_KEY = 20260023
USERS_LOCKED = f"""PERFORM pg_advisory_xact_lock({COUNTS_KEY}, u.k)
FROM (SELECT DISTINCT hashtext(s.user_id) AS k FROM ({{users}}) s ORDER BY 1) u"""


def _counting(name: str, users: str, delta: str) -> str:
    body = USERS_LOCKED.format(users=users) + ";\n" + PRIOR.COUNTED.format(delta=delta)
    return DECLARED.format(name=f"{ROWS}_{name}", body=PRIOR.COUNTING.format(counted=body))


BOTH_ROWS = "SELECT user_id FROM new_rows UNION ALL SELECT user_id FROM old_rows"
COUNTERS = [
    _counting("added", "SELECT user_id FROM new_rows", PRIOR.WHOLE.format(rows="new_rows", n=1)),
    _counting("changed", BOTH_ROWS, PRIOR.CHANGED),
    _counting("removed", "SELECT user_id FROM old_rows", PRIOR.WHOLE.format(rows="old_rows", n=-1)),
]

POSTGRESQL = [
    *COUNTERS,
    f"CREATE TABLE {PENDING} (chat_id VARCHAR(26) NOT NULL, words tsvector NOT NULL)",
    f"CREATE INDEX ix_{PENDING}_chat_id ON {PENDING} (chat_id)",
    DRAINING,
    DECLARED.format(name=f"{WORDS}_inserted", body=INSERTED),
    DECLARED.format(name=f"{WORDS}_updated", body=UPDATED),
    DECLARED.format(name=f"{WORDS}_deleted", body=DELETED),
    DECLARED.format(name=f"{ROWS}_chat_changed", body=CHAT_CHANGED),
]


def _restored() -> list[str]:
    """assistant_0023's trigger functions that this migration replaces."""
    names = [f"{WORDS}_{verb}()" for verb in ("inserted", "updated", "deleted")]
    names += [f"{ROWS}_{verb}()" for verb in ("chat_changed", "added", "changed", "removed")]
    restored = []
    for statement in PRIOR.POSTGRESQL:
        head = statement.split("\n")[0]
        if "RETURNS trigger" in head and any(f"FUNCTION {name}" in head for name in names):
            restored.append(statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    assert len(restored) == len(names)
    return restored


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"SELECT {DRAIN}(NULL, NULL)")  # what is pending, merged as before
    for statement in _restored():
        op.execute(statement)
    op.execute(f"DROP FUNCTION IF EXISTS {DRAIN}(varchar, integer)")
    op.execute(f"DROP TABLE IF EXISTS {PENDING}")
