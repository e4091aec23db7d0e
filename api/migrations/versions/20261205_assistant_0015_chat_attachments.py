"""chat attachments: files uploaded into a chat, sent with its messages, deleted with it

Revision ID: assistant_0015
Revises: assistant_0014
Create Date: 2026-12-05 11:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "assistant_0015"
down_revision: str | Sequence[str] | None = "assistant_0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assistant_chat_attachment",
        sa.Column("chat_id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("message_id", sa.String(length=26), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("use", sa.String(length=20), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("chunks", sa.JSON(), nullable=True),
        sa.Column("text_tokens", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["assistant_chat.id"],
            name=op.f("fk_assistant_chat_attachment_chat_id_assistant_chat"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_assistant_chat_attachment_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_chat_attachment")),
    )
    op.create_index(
        op.f("ix_assistant_chat_attachment_chat_id"),
        "assistant_chat_attachment",
        ["chat_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_assistant_chat_attachment_message_id"),
        "assistant_chat_attachment",
        ["message_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_assistant_chat_attachment_message_id"), table_name="assistant_chat_attachment"
    )
    op.drop_index(
        op.f("ix_assistant_chat_attachment_chat_id"), table_name="assistant_chat_attachment"
    )
    op.drop_table("assistant_chat_attachment")
