"""Shapes of answer feedback and corrections: what PATCH on an answer takes, and a feedback row."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, model_validator

from core.schemas import Schema


class MessageUpdate(Schema):
    """PATCH /api/chats/{chatId}/messages/{messageId}: rate an answer, correct its text, or both.

    Only the fields sent change: `liked` (`null` takes a rating back) with `feedback`, and
    `content`, the answer's corrected text."""

    liked: bool | None = None
    feedback: str | None = Field(default=None, max_length=2000)
    content: str | None = Field(default=None, min_length=1, max_length=200_000)

    @model_validator(mode="after")
    def _something(self) -> MessageUpdate:
        if not self.model_fields_set & {"liked", "feedback", "content"}:
            raise ValueError("Send `liked` (with `feedback`) to rate or `content` to edit.")
        if "content" in self.model_fields_set and not (self.content or "").strip():
            raise ValueError("`content` must hold some text.")
        return self


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
