"""audit events, two-factor authenticators and recovery codes, users' last sign-in method

Revision ID: core_0008
Revises: core_0007
Create Date: 2026-12-05 09:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0008"
down_revision: str | Sequence[str] | None = "core_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_audit_event",
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("actor_id", sa.String(length=26), nullable=True),
        sa.Column("subject_type", sa.String(length=40), nullable=True),
        sa.Column("subject_id", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_audit_event")),
    )
    with op.batch_alter_table("core_audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_audit_event_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_audit_event_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_core_audit_event_actor_id"), ["actor_id"], unique=False
        )
        batch_op.create_index(
            "ix_core_audit_event_subject", ["subject_type", "subject_id"], unique=False
        )

    op.create_table(
        "core_two_factor",
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_two_factor_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_core_two_factor")),
    )

    op.create_table(
        "core_recovery_code",
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_recovery_code_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_recovery_code")),
    )
    with op.batch_alter_table("core_recovery_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_core_recovery_code_user_id"), ["user_id"], unique=False
        )

    with op.batch_alter_table("core_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_login_method", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("core_user", schema=None) as batch_op:
        batch_op.drop_column("last_login_method")
    with op.batch_alter_table("core_recovery_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_recovery_code_user_id"))
    op.drop_table("core_recovery_code")
    op.drop_table("core_two_factor")
    with op.batch_alter_table("core_audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_core_audit_event_subject")
        batch_op.drop_index(batch_op.f("ix_core_audit_event_actor_id"))
        batch_op.drop_index(batch_op.f("ix_core_audit_event_kind"))
        batch_op.drop_index(batch_op.f("ix_core_audit_event_at"))
    op.drop_table("core_audit_event")
