"""history turns: how many turns of history the path above a message holds

A turn reads its branch only as far as the model's context window reaches
(`assistant/chat/window.py`); the turns left out above what it read are `droppedTurns`. Each
message written since keeps that count for the path above it, so a turn reads it off the first
message it read instead of walking the rest of the path. Older rows stay NULL: their count is
walked in SQL, and the messages written below them are given theirs.

Revision ID: assistant_0021
Revises: assistant_0020
Create Date: 2026-12-05 16:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "assistant_0021"
down_revision: str | Sequence[str] | None = "assistant_0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place (no batch copy): a copy of assistant_message would drop its search triggers.
    op.add_column("assistant_message", sa.Column("history_turns", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("assistant_message", "history_turns")
