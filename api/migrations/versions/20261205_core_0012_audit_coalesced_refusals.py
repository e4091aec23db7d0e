"""audit events count coalesced refusals; the keys being coalesced

Revision ID: core_0012
Revises: core_0011
Create Date: 2026-12-05 16:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0012"
down_revision: str | Sequence[str] | None = "core_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "core_audit_event",
        sa.Column("count", sa.Integer(), server_default="1", nullable=False),
    )
    op.add_column(
        "core_audit_event", sa.Column("last_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "core_audit_repeat",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=26), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("keys_opened", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_core_audit_repeat")),
    )
    op.create_index(op.f("ix_core_audit_repeat_until"), "core_audit_repeat", ["until"])


def downgrade() -> None:
    op.drop_index(op.f("ix_core_audit_repeat_until"), table_name="core_audit_repeat")
    op.drop_table("core_audit_repeat")
    with op.batch_alter_table("core_audit_event", schema=None) as batch_op:
        batch_op.drop_column("last_at")
        batch_op.drop_column("count")
