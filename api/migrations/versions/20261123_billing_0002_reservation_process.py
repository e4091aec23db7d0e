"""the process holding a reservation

Revision ID: billing_0002
Revises: billing_0001
Create Date: 2026-11-23 16:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'billing_0002'
down_revision: str | Sequence[str] | None = 'billing_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('billing_reservation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('process_id', sa.String(length=26), nullable=True))
        batch_op.create_index(batch_op.f('ix_billing_reservation_process_id'), ['process_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('billing_reservation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_reservation_process_id'))
        batch_op.drop_column('process_id')
