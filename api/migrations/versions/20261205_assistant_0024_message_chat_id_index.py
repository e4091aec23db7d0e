"""message chat id index dropped: (chat_id, status) serves every lookup by chat

`ix_assistant_message_chat_id` (assistant_0001) indexes chat_id alone; assistant_0022's
`ix_assistant_message_chat_status` leads with chat_id, so every lookup by chat (a chat's
messages, its path, ON DELETE CASCADE from assistant_chat) uses that one, and the narrow index
only cost a second index write for every message written. Checked with EXPLAIN on both
databases (200 chats of 60 messages): each of `assistant.chat.window`'s and `branches`' reads
by chat that used the narrow index uses the composite one; on PostgreSQL the path walk then
looks each row up by primary key rather than hashing every message of the chat.

Revision ID: assistant_0024
Revises: assistant_0023
Create Date: 2026-12-05 19:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "assistant_0024"
down_revision: str | Sequence[str] | None = "assistant_0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_assistant_message_chat_id", table_name="assistant_message")


def downgrade() -> None:
    op.create_index("ix_assistant_message_chat_id", "assistant_message", ["chat_id"])
