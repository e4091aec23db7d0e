"""a job run's error code beside its message (the first failed step's, e.g.
library_sync_over_storage_quota), and no index of library files by team alone: the
(team_id, created_by) index of knowledge_0004 starts with team_id and serves those reads

Revision ID: knowledge_0005
Revises: knowledge_0004
Create Date: 2026-12-06 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "knowledge_0005"
down_revision: str | Sequence[str] | None = "knowledge_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("knowledge_job_run", sa.Column("error_code", sa.String(100), nullable=True))
    op.drop_index("ix_knowledge_file_team_id", table_name="knowledge_file")


def downgrade() -> None:
    op.create_index("ix_knowledge_file_team_id", "knowledge_file", ["team_id"])
    with op.batch_alter_table("knowledge_job_run") as batch_op:
        batch_op.drop_column("error_code")
