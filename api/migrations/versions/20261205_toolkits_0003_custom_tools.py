"""toolkits: custom HTTP tools (a tool's request config and who discovered it)

Revision ID: toolkits_0003
Revises: toolkits_0002
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'toolkits_0003'
down_revision: str | Sequence[str] | None = 'toolkits_0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('toolkits_tool', schema=None) as batch_op:
        batch_op.add_column(sa.Column('config', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('discovered_by', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('toolkits_tool', schema=None) as batch_op:
        batch_op.drop_column('discovered_by')
        batch_op.drop_column('config')
