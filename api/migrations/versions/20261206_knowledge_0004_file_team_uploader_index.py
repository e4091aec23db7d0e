"""library files by team and uploader: the storage quota's sum of what a user uploaded to their
teams' libraries reads their files only, not every file of those teams

Revision ID: knowledge_0004
Revises: knowledge_0003
Create Date: 2026-12-06 06:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "knowledge_0004"
down_revision: str | Sequence[str] | None = "knowledge_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_knowledge_file_team_uploader", "knowledge_file", ["team_id", "created_by"])


def downgrade() -> None:
    op.drop_index("ix_knowledge_file_team_uploader", table_name="knowledge_file")
