"""Attachments on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from core.schemas import Schema


class AttachmentRead(Schema):
    """A file attached to a chat. `use` says how the model was given it once sent: `image` (an
    image part), `inline` (the document's text in the prompt) or `retrieved` (cited passages)."""

    id: str
    name: str
    media_type: str
    size: int
    status: Literal["ready"]
    kind: Literal["image", "document"]
    message_id: str | None
    use: Literal["image", "inline", "retrieved"] | None
    text_tokens: int
    created_at: datetime
