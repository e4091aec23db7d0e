"""pending owner and lock order: a chat's pending word starts carry its owner, and every writer of
a user's counts takes the user's lock before any chat's starts

Two gaps of assistant_0026 on PostgreSQL:

- "Is anything of this user's pending?" (the chat list, before it reads the counts) read every
  pending row and looked each one's chat up for its owner: a cost that followed everyone's
  pending rows. `assistant_chat_prefix_pending.user_id` (the chat's owner, written with the row
  from the chat, kept when a chat changes owner, indexed with the chat) makes it one probe of an
  index, and the drain of one user's chats a range of it.
- A transaction that changed one chat's counts (taking the user's lock, assistant_0026) and then
  locked another chat's starts could deadlock with a drain, which had locked that chat's first
  part of starts and then waited for the user's lock; PostgreSQL broke it by failing one of them,
  the drain (sent again) or the other (a request: an error). Now one order holds: the user's lock
  (`pg_advisory_xact_lock(COUNTS_KEY, hashtext(user_id))`), then chats' first parts, then count
  rows. A correction, move or deletion of messages and a chat renamed, archived or moved take
  the owners' locks before they lock the chats' parts; a chat deleted takes its owner's in a
  BEFORE DELETE trigger, before its parts go by cascade. The drain takes the users' locks first:
  the list's drain of one user waits for it (holding nothing), the background drain takes only
  those free at once (`pg_try_advisory_xact_lock`) and leaves the others' chats for its next
  pass; then it locks the chats' first parts skipping any locked (a message being written, its
  writer never waits for the user's lock) and drains those. So a drain never waits while it
  holds a chat: it cannot be one end of a deadlock. What it skipped stays pending: the list,
  finding some of the user's starts still pending after its drain, counts its total from the
  chats instead (`assistant.chat.search.listing`).

Saving a message and appending to it still take no user lock (only the chat's first part, as
before); they look the chat's owner up by key for the pending row.

Revision ID: assistant_0027
Revises: assistant_0026
Create Date: 2026-12-06 00:20:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "assistant_0027"
down_revision: str | Sequence[str] | None = "assistant_0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _migration(name: str) -> ModuleType:
    path = next(Path(__file__).parent.glob(f"*_{name}_*.py"))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PRIOR = _migration("assistant_0026")
FIRST = PRIOR.PRIOR  # assistant_0023
ROWS, WORDS, PENDING, DRAIN = PRIOR.ROWS, PRIOR.WORDS, PRIOR.PENDING, PRIOR.DRAIN
KEY = PRIOR.COUNTS_KEY
OWNER_INDEX = f"ix_{PENDING}_user_id"
CHAT_DELETING = "assistant_chat_deleting"

# The locks of the users in `{users}` (a query of user_id), in one order.
USERS_LOCKED = PRIOR.USERS_LOCKED
OWNERS = "SELECT c.user_id FROM assistant_chat c WHERE c.id IN ({chats})"

# The messages in `{source}` pending for their chats' starts, with the chats' owners.
PEND = f"""INSERT INTO {PENDING} (chat_id, user_id, words)
SELECT s.chat_id, c.user_id, strip(s.search_vector) FROM {{source}} s
JOIN assistant_chat c ON c.id = s.chat_id WHERE length(s.search_vector) > 0"""

# The pending rows of `owner`'s chats (after waiting for the owner's lock), or, when NULL, of
# the users of the first `most` pending chats whose locks are free at once; of at most `most`
# chats (all when NULL), those whose first part is not locked (by a message being written),
# locked in order, merged and deleted. Returns how many chats.
DRAINING = f"""CREATE OR REPLACE FUNCTION {DRAIN}(owner varchar, most integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    grown integer := 0;
    users varchar[];
    drained varchar[];
    unheld_chats varchar[];
    unheld_words text[];
BEGIN
IF owner IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock({KEY}, hashtext(owner));
    users := ARRAY[owner];
ELSE
    SELECT array_agg(u.user_id) INTO users FROM (
        SELECT DISTINCT f.user_id FROM (
            SELECT q.chat_id, q.user_id FROM {PENDING} q ORDER BY q.chat_id LIMIT most
        ) f
    ) u WHERE pg_try_advisory_xact_lock({KEY}, hashtext(u.user_id));
    IF users IS NULL THEN
        RETURN 0;
    END IF;
END IF;
SELECT array_agg(l.chat_id) INTO drained FROM (
    SELECT DISTINCT q.chat_id FROM {PENDING} q WHERE q.user_id = ANY(users)
    ORDER BY q.chat_id LIMIT most
) d CROSS JOIN LATERAL (
    SELECT p.chat_id FROM {ROWS} p
    WHERE p.chat_id = d.chat_id AND p.lo = '' AND p.user_id = ANY(users)
    FOR UPDATE SKIP LOCKED
) l;
IF drained IS NULL THEN
    RETURN 0;
END IF;
WITH taken AS (
    DELETE FROM {PENDING} q WHERE q.chat_id = ANY(drained)
    RETURNING q.chat_id, q.words AS search_vector
)
{PRIOR.UNHELD.format(source="taken")};
{PRIOR.MERGE_UNHELD};
RETURN cardinality(drained);
END
$$"""

INSERTED = PRIOR.INSERTED.replace(
    PRIOR.PEND.format(source="added_messages"), PEND.format(source="added_messages")
)
assert INSERTED != PRIOR.INSERTED

# An append pends its gained words with the owner; a correction or move takes the owners'
# locks before the chats' parts.
BOTH = PRIOR.BOTH
UPDATED = PRIOR.UPDATED.replace(
    PRIOR.PEND.format(source=PRIOR.GAINED), PEND.format(source=PRIOR.GAINED)
).replace(
    "ELSE\n" + FIRST.LOCK.format(chats=BOTH),
    "ELSE\n"
    + USERS_LOCKED.format(users=OWNERS.format(chats=BOTH))
    + ";\n"
    + FIRST.LOCK.format(chats=BOTH),
)
assert UPDATED.count("pg_advisory_xact_lock") == 1 and "c.user_id, strip" in UPDATED

DELETED = USERS_LOCKED.format(users=OWNERS.format(chats=FIRST.REMOVED)) + ";\n" + PRIOR.DELETED

# A chat renamed, archived or moved: its owners' locks first, and its pending rows follow it to
# a new owner.
CHAT_CHANGED = (
    USERS_LOCKED.format(users="SELECT OLD.user_id AS user_id UNION ALL SELECT NEW.user_id")
    + ";\n"
    + PRIOR.CHAT_CHANGED
    + f""";
IF OLD.user_id IS DISTINCT FROM NEW.user_id THEN
UPDATE {PENDING} SET user_id = NEW.user_id WHERE chat_id = NEW.id;
END IF"""
)

# A chat deleted: its owner's lock before its parts go (by cascade, each chat's in a statement
# of its own, whose counts trigger would take the lock only after the first chat's parts).
DELETING = f"""CREATE OR REPLACE FUNCTION {CHAT_DELETING}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
PERFORM pg_advisory_xact_lock({KEY}, hashtext(OLD.user_id));
RETURN OLD;
END
$$"""

POSTGRESQL = [
    f"ALTER TABLE {PENDING} ADD COLUMN user_id VARCHAR(26)",
    f"UPDATE {PENDING} q SET user_id = c.user_id FROM assistant_chat c WHERE c.id = q.chat_id",
    f"DELETE FROM {PENDING} WHERE user_id IS NULL",  # a chat gone: nothing to merge
    f"ALTER TABLE {PENDING} ALTER COLUMN user_id SET NOT NULL",
    f"CREATE INDEX {OWNER_INDEX} ON {PENDING} (user_id, chat_id)",
    DRAINING,
    PRIOR.DECLARED.format(name=f"{WORDS}_inserted", body=INSERTED),
    PRIOR.DECLARED.format(name=f"{WORDS}_updated", body=UPDATED),
    PRIOR.DECLARED.format(name=f"{WORDS}_deleted", body=DELETED),
    PRIOR.DECLARED.format(name=f"{ROWS}_chat_changed", body=CHAT_CHANGED),
    DELETING,
    f"CREATE TRIGGER {CHAT_DELETING} BEFORE DELETE ON assistant_chat "
    f"FOR EACH ROW EXECUTE FUNCTION {CHAT_DELETING}()",
]

# assistant_0026's functions, as it made them.
RESTORED = [
    PRIOR.DRAINING,
    PRIOR.DECLARED.format(name=f"{WORDS}_inserted", body=PRIOR.INSERTED),
    PRIOR.DECLARED.format(name=f"{WORDS}_updated", body=PRIOR.UPDATED),
    PRIOR.DECLARED.format(name=f"{WORDS}_deleted", body=PRIOR.DELETED),
    PRIOR.DECLARED.format(name=f"{ROWS}_chat_changed", body=PRIOR.CHAT_CHANGED),
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {CHAT_DELETING} ON assistant_chat")
    op.execute(f"DROP FUNCTION IF EXISTS {CHAT_DELETING}()")
    for statement in RESTORED:
        op.execute(statement)
    op.execute(f"DROP INDEX IF EXISTS {OWNER_INDEX}")
    op.execute(f"ALTER TABLE {PENDING} DROP COLUMN IF EXISTS user_id")
