"""toolkits: OAuth grants and sign-ins

Revision ID: toolkits_0002
Revises: toolkits_0001
Create Date: 2026-11-23 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'toolkits_0002'
down_revision: str | Sequence[str] | None = 'toolkits_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('toolkits_grant',
    sa.Column('toolkit_id', sa.String(length=26), nullable=False),
    sa.Column('user_id', sa.String(length=26), nullable=False),
    sa.Column('client_info', sa.Text(), nullable=True),
    sa.Column('tokens', sa.Text(), nullable=True),
    sa.Column('token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['toolkit_id'], ['toolkits_toolkit.id'], name=op.f('fk_toolkits_grant_toolkit_id_toolkits_toolkit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['core_user.id'], name=op.f('fk_toolkits_grant_user_id_core_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_toolkits_grant')),
    sa.UniqueConstraint('toolkit_id', 'user_id', name=op.f('uq_toolkits_grant_toolkit_id'))
    )
    with op.batch_alter_table('toolkits_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_toolkits_grant_toolkit_id'), ['toolkit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_toolkits_grant_user_id'), ['user_id'], unique=False)

    op.create_table('toolkits_sign_in',
    sa.Column('toolkit_id', sa.String(length=26), nullable=False),
    sa.Column('user_id', sa.String(length=26), nullable=False),
    sa.Column('state_hash', sa.String(length=64), nullable=False),
    sa.Column('authorization_url', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('code', sa.Text(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['toolkit_id'], ['toolkits_toolkit.id'], name=op.f('fk_toolkits_sign_in_toolkit_id_toolkits_toolkit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['core_user.id'], name=op.f('fk_toolkits_sign_in_user_id_core_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_toolkits_sign_in')),
    sa.UniqueConstraint('state_hash', name=op.f('uq_toolkits_sign_in_state_hash'))
    )
    with op.batch_alter_table('toolkits_sign_in', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_toolkits_sign_in_toolkit_id'), ['toolkit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_toolkits_sign_in_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('toolkits_sign_in', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_toolkits_sign_in_user_id'))
        batch_op.drop_index(batch_op.f('ix_toolkits_sign_in_toolkit_id'))

    op.drop_table('toolkits_sign_in')
    with op.batch_alter_table('toolkits_grant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_toolkits_grant_user_id'))
        batch_op.drop_index(batch_op.f('ix_toolkits_grant_toolkit_id'))

    op.drop_table('toolkits_grant')
