"""chat search index: which chats hold a word, without reading every message that does

The chat list's `q` must find every chat with a message holding the words. Through the message
index alone that costs a read of each matching message's row for its chat (0.36 s for a word in
180,000 of 200,000 messages). This index answers "which chats" from the index itself:

- SQLite: a contentless FTS5 table with a row per message whose rowid is the chat's rowid
  shifted left 32 bits plus the message's rowid, so a match yields its chat (`rowid >> 32`)
  without a table read. Triggers keep it: a message's text in on insert, out and in again on a
  change, out on delete (a chat's rows go before the chat: its messages' delete triggers can no
  longer find its rowid). Like the other FTS5 indexes (`core.fulltext`), it follows rowids,
  which a manual `VACUUM` may renumber: after one, empty it
  (`INSERT INTO assistant_chat_message_fts(assistant_chat_message_fts) VALUES('delete-all')`)
  and fill it again with the last statement of `SQLITE` below.

On PostgreSQL nothing: a per-chat tsvector (each chat's distinct words, GIN-indexed) was tried
and dropped within the hour it was committed. Those vectors are TOASTed, and the planner
filtered the user's chats row by row through them (a detoast each: 60-100 ms for 1,000 chats,
rare word or common) rather than use the GIN index; PostgreSQL searches chats through the
message index as before.

Revision ID: assistant_0018
Revises: assistant_0017
Create Date: 2026-12-05 13:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "assistant_0018"
down_revision: str | Sequence[str] | None = "assistant_0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FTS = "assistant_chat_message_fts"
# A message's row in the index, from its chat's row (none when the chat is not there).
ROW = (
    "SELECT {verb}(c.rowid << 32) + {m}.rowid, {m}.content "
    "FROM assistant_chat c WHERE c.id = {m}.chat_id;"
)
ADD = f"INSERT INTO {FTS}(rowid, content) " + ROW.format(verb="", m="new")
REMOVE = f"INSERT INTO {FTS}({FTS}, rowid, content) " + ROW.format(verb="'delete', ", m="old")
SQLITE = [
    f"CREATE VIRTUAL TABLE {FTS} USING fts5(content, content='', "
    "tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON assistant_message BEGIN {ADD} END",
    # When a chat is deleted its own trigger takes its messages out first (the messages' delete
    # triggers, run after, no longer find the chat's rowid).
    f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON assistant_message BEGIN {REMOVE} END",
    f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF content, chat_id ON assistant_message "
    f"BEGIN {REMOVE} {ADD} END",
    f"CREATE TRIGGER {FTS}_chat_delete BEFORE DELETE ON assistant_chat BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, content) SELECT 'delete', (old.rowid << 32) + m.rowid, "
    "m.content FROM assistant_message m WHERE m.chat_id = old.id; END",
    f"INSERT INTO {FTS}(rowid, content) SELECT (c.rowid << 32) + m.rowid, m.content "
    "FROM assistant_message m JOIN assistant_chat c ON c.id = m.chat_id",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        return
    for statement in SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        return
    for verb in ("insert", "delete", "update", "chat_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{verb}")
    op.execute(f"DROP TABLE IF EXISTS {FTS}")
