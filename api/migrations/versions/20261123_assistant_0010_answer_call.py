"""the model call an answer is writing: its reservation and where its text starts

Revision ID: assistant_0010
Revises: assistant_0009
Create Date: 2026-11-23 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "assistant_0010"
down_revision: str | Sequence[str] | None = "assistant_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assistant_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("call_reservation_id", sa.String(length=26), nullable=True))
        batch_op.add_column(
            sa.Column("call_text_start", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("assistant_message", schema=None) as batch_op:
        batch_op.drop_column("call_text_start")
        batch_op.drop_column("call_reservation_id")
