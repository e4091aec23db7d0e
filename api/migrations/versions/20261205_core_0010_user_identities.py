"""OpenID Connect sign-in: the provider accounts (provider + subject) users sign in with

Revision ID: core_0010
Revises: core_0009
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0010"
down_revision: str | Sequence[str] | None = "core_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_user_identity",
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_user_identity_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_user_identity")),
        sa.UniqueConstraint("provider", "subject", name="uq_core_user_identity_subject"),
    )
    with op.batch_alter_table("core_user_identity", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_core_user_identity_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("core_user_identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_user_identity_user_id"))
    op.drop_table("core_user_identity")
