"""auth epoch

Revision ID: core_0004
Revises: core_0003
Create Date: 2026-11-23 15:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'core_0004'
down_revision: str | Sequence[str] | None = 'core_0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('core_auth_epoch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_core_auth_epoch'))
    )
    op.execute(sa.text("INSERT INTO core_auth_epoch (id, epoch) VALUES (1, 0)"))


def downgrade() -> None:
    op.drop_table('core_auth_epoch')
