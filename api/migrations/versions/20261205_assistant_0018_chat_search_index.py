"""chat search index: which chats hold a word, without reading every message that does

The chat list's `q` must find every chat with a message holding the words. Through the message
index alone that costs a read of each matching message's row for its chat (0.36 s for a word in
180,000 of 200,000 messages). This index answers "which chats" from the index itself:

- SQLite: a contentless FTS5 table with a row per message whose rowid is the chat's rowid
  shifted left 32 bits plus the message's rowid, so a match yields its chat (`rowid >> 32`)
  without a table read. Triggers keep it: a message's text in on insert, out and in again on a
  change, out on delete (a chat's rows go before the chat: its messages' delete triggers can no
  longer find its rowid).
- PostgreSQL: `assistant_chat.message_words`, the distinct words (a stripped tsvector) of all
  the chat's messages, with a GIN index. A new message's words are added to it; a change that
  drops words, or a deletion, recomputes it from the chat's messages.

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
WORDS_OF = (
    "SELECT coalesce(array_to_tsvector(array_agg(DISTINCT w.lexeme)), ''::tsvector) "
    "FROM assistant_message m, unnest(m.search_vector) AS w WHERE m.chat_id = {chat}"
)
POSTGRESQL = [
    # NULL: not known (a chat whose words outgrew a tsvector); such chats are searched message
    # by message.
    "ALTER TABLE assistant_chat ADD COLUMN message_words tsvector DEFAULT ''::tsvector",
    f"""DO $$ DECLARE chat record; BEGIN
  FOR chat IN SELECT id FROM assistant_chat LOOP
    BEGIN
      UPDATE assistant_chat c SET message_words = ({WORDS_OF.format(chat="c.id")})
        WHERE c.id = chat.id;
    EXCEPTION WHEN program_limit_exceeded THEN
      UPDATE assistant_chat SET message_words = NULL WHERE id = chat.id;
    END;
  END LOOP;
END $$""",
    "CREATE INDEX ix_assistant_chat_message_words ON assistant_chat USING gin (message_words)",
    f"""CREATE FUNCTION assistant_chat_message_words() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND OLD.chat_id = NEW.chat_id
      AND tsvector_to_array(OLD.search_vector) <@ tsvector_to_array(NEW.search_vector)) THEN
    BEGIN
      UPDATE assistant_chat
        SET message_words = message_words || strip(NEW.search_vector)
        WHERE id = NEW.chat_id AND message_words IS NOT NULL;
    EXCEPTION WHEN program_limit_exceeded THEN  -- over a tsvector's 1 MB: searched the slow way
      UPDATE assistant_chat SET message_words = NULL WHERE id = NEW.chat_id;
    END;
    RETURN NULL;
  END IF;
  BEGIN
    UPDATE assistant_chat c SET message_words = ({WORDS_OF.format(chat="c.id")})
      WHERE c.id IN (OLD.chat_id, CASE WHEN TG_OP = 'UPDATE' THEN NEW.chat_id END);
  EXCEPTION WHEN program_limit_exceeded THEN
    UPDATE assistant_chat SET message_words = NULL
      WHERE id IN (OLD.chat_id, CASE WHEN TG_OP = 'UPDATE' THEN NEW.chat_id END);
  END;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER assistant_chat_message_words AFTER INSERT OR DELETE OR UPDATE OF content, "
    "chat_id ON assistant_message FOR EACH ROW EXECUTE FUNCTION assistant_chat_message_words()",
]


def upgrade() -> None:
    statements = POSTGRESQL if op.get_bind().dialect.name == "postgresql" else SQLITE
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS assistant_chat_message_words ON assistant_message")
        op.execute("DROP FUNCTION IF EXISTS assistant_chat_message_words()")
        op.execute("DROP INDEX IF EXISTS ix_assistant_chat_message_words")
        op.execute("ALTER TABLE assistant_chat DROP COLUMN IF EXISTS message_words")
        return
    for verb in ("insert", "delete", "update", "chat_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{verb}")
    op.execute(f"DROP TABLE IF EXISTS {FTS}")
