"""the live version of a library file's chunks, the one searches return: set in one write when a
version is whole. Files indexed before (indexed_at set) get "", the version of every chunk
stored before versions were recorded, so their chunks stay searchable without re-indexing; a
file never indexed whole gets none, so what an unfinished first indexing left is not found

Revision ID: knowledge_0006
Revises: knowledge_0005
Create Date: 2026-12-06 12:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "knowledge_0006"
down_revision: str | Sequence[str] | None = "knowledge_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("knowledge_file", sa.Column("live_version", sa.String(32), nullable=True))
    op.execute("UPDATE knowledge_file SET live_version = '' WHERE indexed_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("knowledge_file") as batch_op:
        batch_op.drop_column("live_version")
