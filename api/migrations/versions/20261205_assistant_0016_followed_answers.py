"""followed answers: a reader on another process follows a streaming answer (NOTIFY on save)

Revision ID: assistant_0016
Revises: assistant_0015
Create Date: 2026-12-05 12:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "assistant_0016"
down_revision: str | Sequence[str] | None = "assistant_0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy): a copied table would lose the search index's triggers.
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "assistant_message",
        sa.Column("followed", sa.Boolean(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("assistant_message", "followed")
