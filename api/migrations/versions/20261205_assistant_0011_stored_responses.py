"""stored /v1/responses answers, per user, chained by previous_response_id

Revision ID: assistant_0011
Revises: assistant_0010
Create Date: 2026-12-05 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "assistant_0011"
down_revision: str | Sequence[str] | None = "assistant_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assistant_response",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("previous_id", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("input_items", sa.JSON(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("chain_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_assistant_response_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_response")),
    )
    with op.batch_alter_table("assistant_response", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assistant_response_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("assistant_response", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assistant_response_user_id"))
    op.drop_table("assistant_response")
