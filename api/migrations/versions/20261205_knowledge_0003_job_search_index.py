"""job search index: job names in full text (SQLite FTS5 with triggers, PostgreSQL tsvector + GIN)

After knowledge_0002, which reshaped the job table in place (`core.fulltext`).

Revision ID: knowledge_0003
Revises: knowledge_0002
Create Date: 2026-12-05 10:15:00.000000
"""

from collections.abc import Sequence

from alembic import op

from core.fulltext import FullTextIndex

revision: str = "knowledge_0003"
down_revision: str | Sequence[str] | None = "knowledge_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As made here (assistant/search_everywhere.py searches it). On SQLite a later migration that
# recreates the job table (batch mode) drops the triggers: make the index again after it.
INDEX = FullTextIndex("knowledge_job", ("name",))


def upgrade() -> None:
    for statement in INDEX.create_statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in INDEX.drop_statements(op.get_bind().dialect.name):
        op.execute(statement)
