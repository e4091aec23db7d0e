"""Chat tables: chats and their messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, IdMixin, TimestampMixin


class Chat(IdMixin, TimestampMixin, Base):
    """A conversation owned by the user who started it."""

    __tablename__ = "assistant_chat"

    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300), default="New chat")
    model: Mapped[str | None] = mapped_column(String(200))
    # Library files and folders the chat answers from (knowledge).
    knowledge_file_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    knowledge_folder_ids: Mapped[list[str]] = mapped_column(JSON, default=list)


class Message(IdMixin, TimestampMixin, Base):
    """One turn of a chat: the user's words or the model's answer, with usage and timing."""

    __tablename__ = "assistant_message"

    chat_id: Mapped[str] = mapped_column(
        ForeignKey("assistant_chat.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="complete")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_micros: Mapped[int] = mapped_column(Integer, default=0)
    usage_estimated: Mapped[bool] = mapped_column(default=False)
    ttft_ms: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(String(2000))
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    finished_at: Mapped[datetime | None]
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
