"""answer edits: an answer corrected by the chat's owner keeps what the model wrote

Revision ID: assistant_0017
Revises: assistant_0016
Create Date: 2026-12-05 12:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "assistant_0017"
down_revision: str | Sequence[str] | None = "assistant_0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain add_column: a batch copy of assistant_message would drop its full-text triggers.
    op.add_column("assistant_message", sa.Column("original_content", sa.Text(), nullable=True))
    op.add_column(
        "assistant_message", sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("assistant_message", "edited_at")
    op.drop_column("assistant_message", "original_content")
