"""tool approvals

Revision ID: assistant_0008
Revises: assistant_0007
Create Date: 2026-11-23 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'assistant_0008'
down_revision: str | Sequence[str] | None = 'assistant_0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('assistant_tool_approval',
    sa.Column('message_id', sa.String(length=26), nullable=False),
    sa.Column('chat_id', sa.String(length=26), nullable=False),
    sa.Column('call_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['assistant_message.id'], name=op.f('fk_assistant_tool_approval_message_id_assistant_message'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assistant_tool_approval')),
    sa.UniqueConstraint('message_id', 'call_id', name=op.f('uq_assistant_tool_approval_message_id'))
    )
    with op.batch_alter_table('assistant_tool_approval', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assistant_tool_approval_chat_id'), ['chat_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assistant_tool_approval_message_id'), ['message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('assistant_tool_approval', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assistant_tool_approval_message_id'))
        batch_op.drop_index(batch_op.f('ix_assistant_tool_approval_chat_id'))

    op.drop_table('assistant_tool_approval')
