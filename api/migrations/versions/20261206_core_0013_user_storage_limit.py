"""a user's own storage limit, set by an admin (None: SWITCHBOARD_MAX_STORAGE_BYTES_PER_USER)

Revision ID: core_0013
Revises: core_0012
Create Date: 2026-12-06 06:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0013"
down_revision: str | Sequence[str] | None = "core_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("core_user", sa.Column("storage_limit_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("core_user") as batch_op:
        batch_op.drop_column("storage_limit_bytes")
