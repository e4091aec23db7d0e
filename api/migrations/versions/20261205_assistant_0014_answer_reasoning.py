"""answer reasoning: the model's thinking apart from its answer, its duration and stretches

Revision ID: assistant_0014
Revises: assistant_0013
Create Date: 2026-12-05 10:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "assistant_0014"
down_revision: str | Sequence[str] | None = "assistant_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy): a copied table would lose the search index's triggers.
    op.add_column("assistant_message", sa.Column("reasoning", sa.Text(), nullable=True))
    op.add_column("assistant_message", sa.Column("reasoning_ms", sa.Integer(), nullable=True))
    op.add_column("assistant_message", sa.Column("reasoning_marks", sa.JSON(), nullable=True))
    op.add_column(
        "assistant_message",
        sa.Column("call_reasoning_start", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("assistant_message") as batch:
        batch.drop_column("call_reasoning_start")
        batch.drop_column("reasoning_marks")
        batch.drop_column("reasoning_ms")
        batch.drop_column("reasoning")
