"""Create/Update/Read shapes of chats and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from core.schemas import Schema

MessageStatus = Literal["streaming", "complete", "incomplete", "cancelled", "interrupted", "failed"]


class ChatCreate(Schema):
    """A new chat."""

    title: str | None = Field(default=None, max_length=300)
    model: str | None = Field(default=None, max_length=200)


class ChatUpdate(Schema):
    """Changes to a chat."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    model: str | None = Field(default=None, max_length=200)


class ChatRead(Schema):
    """A chat."""

    id: str
    title: str
    model: str | None
    created_at: datetime
    updated_at: datetime


class MessageCreate(Schema):
    """A user message; the answer streams back when `stream` is true."""

    content: str = Field(min_length=1, max_length=200_000)
    model: str | None = Field(default=None, max_length=200)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stream: bool = False


class RegenerateRequest(Schema):
    """Options for answering the last user message again."""

    model: str | None = Field(default=None, max_length=200)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stream: bool = False


class MessageRead(Schema):
    """A message with its usage and timing."""

    id: str
    chat_id: str
    role: str
    content: str
    model: str | None
    status: str
    prompt_tokens: int
    completion_tokens: int
    cost_micros: int
    usage_estimated: bool
    ttft_ms: int | None
    duration_ms: int | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    finished_at: datetime | None
