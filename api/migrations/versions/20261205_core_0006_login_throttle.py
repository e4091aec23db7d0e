"""login throttle and login devices

Revision ID: core_0006
Revises: core_0005
Create Date: 2026-12-05 03:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "core_0006"
down_revision: str | Sequence[str] | None = "core_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_login_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_core_login_throttle")),
    )
    with op.batch_alter_table("core_login_throttle", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_core_login_throttle_last_failure_at"), ["last_failure_at"], unique=False
        )

    op.create_table(
        "core_login_device",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_login_device_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_login_device")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_core_login_device_secret_hash")),
    )
    with op.batch_alter_table("core_login_device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_login_device_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("core_login_device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_login_device_user_id"))
    op.drop_table("core_login_device")
    with op.batch_alter_table("core_login_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_login_throttle_last_failure_at"))
    op.drop_table("core_login_throttle")
