"""Shapes of answer feedback: a rating sent on an answer, and a row of the feedback report."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from core.schemas import Schema


class MessageFeedback(Schema):
    """PATCH /api/chats/{chatId}/messages/{messageId}: rate an answer (`null` takes it back)."""

    liked: bool | None
    feedback: str | None = Field(default=None, max_length=2000)


class FeedbackRead(Schema):
    """One rated answer, for those who review feedback (admins; an assistant's editors)."""

    message_id: str
    chat_id: str
    user_id: str
    username: str
    model: str | None
    assistant_id: str | None
    assistant_name: str | None
    liked: bool | None
    feedback: str | None
    answer: str = Field(description="The rated answer's first 500 characters.")
    feedback_at: datetime
