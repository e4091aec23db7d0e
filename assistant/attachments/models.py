"""The attachments table: files uploaded into a chat, deleted with it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, IdMixin, TimestampMixin


class ChatAttachment(IdMixin, TimestampMixin, Base):
    """A file uploaded into a chat; sent with a user message, it is resent with that message."""

    __tablename__ = "assistant_chat_attachment"

    chat_id: Mapped[str] = mapped_column(
        ForeignKey("assistant_chat.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    # The user message that carries it; None until it is sent.
    message_id: Mapped[str | None] = mapped_column(String(26), index=True)
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # "image" or "document"
    size: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="ready")
    # How the model was given it when sent: "image", "inline" (text in the prompt) or "retrieved".
    use: Mapped[str | None] = mapped_column(String(20))
    # A document's parsed text, its chunks ({text, page, section, start, end}) and its tokens.
    text: Mapped[str | None] = mapped_column(Text)
    chunks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    text_tokens: Mapped[int] = mapped_column(Integer, default=0)
