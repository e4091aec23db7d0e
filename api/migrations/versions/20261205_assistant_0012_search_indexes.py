"""search indexes: SQLite FTS5 tables kept by triggers, PostgreSQL tsvector columns with GIN

Full-text indexes over chat titles, message text, assistants, library file names and toolkits
(`core.fulltext`), filled from the rows already there.

Revision ID: assistant_0012
Revises: assistant_0011
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from core.fulltext import FullTextIndex

revision: str = "assistant_0012"
down_revision: str | Sequence[str] | None = "assistant_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ("knowledge_0001", "toolkits_0003")

# The indexes as they were made here (assistant/search_everywhere.py searches them). On SQLite, a
# later migration that recreates one of these tables (batch mode) drops its triggers: make the
# index again after it (`drop_statements`, then `create_statements`).
INDEXES = (
    FullTextIndex("assistant_chat", ("title",)),
    FullTextIndex("assistant_message", ("content",)),
    FullTextIndex("assistant_assistant", ("name", "description"), (4.0, 1.0)),
    FullTextIndex("knowledge_file", ("name",)),
    FullTextIndex("toolkits_toolkit", ("name", "description"), (4.0, 1.0)),
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for index in INDEXES:
        for statement in index.create_statements(dialect):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for index in INDEXES:
        for statement in index.drop_statements(dialect):
            op.execute(statement)
