"""the process writing an answer

Revision ID: assistant_0009
Revises: assistant_0008
Create Date: 2026-11-23 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'assistant_0009'
down_revision: str | Sequence[str] | None = 'assistant_0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('assistant_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('process_id', sa.String(length=26), nullable=True))
        batch_op.create_index(batch_op.f('ix_assistant_message_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('assistant_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assistant_message_status'))
        batch_op.drop_column('process_id')
