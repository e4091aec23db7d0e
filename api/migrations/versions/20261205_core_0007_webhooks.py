"""webhooks as an API: subscriptions, and which one a delivery is for

Revision ID: core_0007
Revises: core_0006
Create Date: 2026-12-05 07:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0007"
down_revision: str | Sequence[str] | None = "core_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_webhook",
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_webhook")),
    )
    with op.batch_alter_table("core_webhook_delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_id", sa.String(length=26), nullable=True))
        batch_op.add_column(sa.Column("response_code", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_core_webhook_delivery_webhook_id"), ["webhook_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("core_webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_webhook_delivery_webhook_id"))
        batch_op.drop_column("response_code")
        batch_op.drop_column("webhook_id")
    op.drop_table("core_webhook")
