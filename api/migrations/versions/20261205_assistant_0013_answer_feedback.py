"""answer feedback: a user's thumbs up or down and comment on an answer

Revision ID: assistant_0013
Revises: assistant_0012
Create Date: 2026-12-05 10:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "assistant_0013"
down_revision: str | Sequence[str] | None = "assistant_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy): a copied table would lose the search index's triggers.
    op.add_column("assistant_message", sa.Column("liked", sa.Boolean(), nullable=True))
    op.add_column("assistant_message", sa.Column("feedback", sa.String(length=2000), nullable=True))
    op.add_column(
        "assistant_message", sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(op.f("ix_assistant_message_feedback_at"), "assistant_message", ["feedback_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_assistant_message_feedback_at"), table_name="assistant_message")
    with op.batch_alter_table("assistant_message") as batch:
        batch.drop_column("feedback_at")
        batch.drop_column("feedback")
        batch.drop_column("liked")
