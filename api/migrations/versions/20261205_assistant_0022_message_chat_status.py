"""message chat status: an index on (chat_id, status) of assistant_message

A turn reads only its branch's newest messages (`assistant/chat/window.py`), but first asks
whether any answer of the chat is still streaming. With an index on status alone SQLite looks up
every streaming answer of every chat and reads its row for the chat id (a thousand open streams:
a thousand rows a turn); by chat_id alone, every message of the chat. This index answers it in
one lookup.

Revision ID: assistant_0022
Revises: assistant_0021
Create Date: 2026-12-05 16:50:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "assistant_0022"
down_revision: str | Sequence[str] | None = "assistant_0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_assistant_message_chat_status", "assistant_message", ["chat_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_assistant_message_chat_status", table_name="assistant_message")
