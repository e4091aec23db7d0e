"""A chat written out: Markdown to read, JSON to keep or move, and the copy a share link shows.

Each holds the chat's active branch, oldest message first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from assistant.models import Chat, Message
from assistant.schemas import MessageStatus
from core import clock

ExportFormat = Literal["markdown", "json"]
JSON_FORMAT = "switchboard.chat/1"
SPEAKERS = {"user": "You", "assistant": "Assistant", "system": "System", "tool": "Tool"}


def to_markdown(chat: Chat, messages: Sequence[Message]) -> str:
    """The chat as a Markdown document: a heading per message, its text as written."""
    lines = [f"# {chat.title}", ""]
    if chat.model:
        lines.append(f"- Model: {chat.model}")
    if chat.tags:
        lines.append(f"- Tags: {', '.join(chat.tags)}")
    lines += [f"- Exported: {clock.now().isoformat()}", ""]
    for message in messages:
        speaker = SPEAKERS.get(message.role, message.role.title())
        if message.role == "assistant" and message.model:
            speaker += f" ({message.model})"
        lines += [f"## {speaker}", "", message.content.rstrip() or "_(no text)_", ""]
        if message.status not in {MessageStatus.COMPLETE, MessageStatus.STREAMING}:
            lines += [f"_This answer ended {message.status}._", ""]
    return "\n".join(lines)


def to_json(chat: Chat, messages: Sequence[Message]) -> dict[str, Any]:
    """The chat and its messages with usage and cost, in camelCase."""
    return {
        "format": JSON_FORMAT,
        "id": chat.id,
        "title": chat.title,
        "model": chat.model,
        "tags": list(chat.tags or []),
        "createdAt": chat.created_at.isoformat(),
        "updatedAt": chat.updated_at.isoformat(),
        "exportedAt": clock.now().isoformat(),
        "messages": [
            {
                "id": m.id,
                "parentId": m.parent_id,
                "role": m.role,
                "content": m.content,
                "model": m.model,
                "status": m.status,
                "createdAt": m.created_at.isoformat(),
                "promptTokens": m.prompt_tokens,
                "completionTokens": m.completion_tokens,
                "costMicros": m.cost_micros,
            }
            for m in messages
        ],
    }


def snapshot(chat: Chat, messages: Sequence[Message]) -> dict[str, Any]:
    """What a share link shows: the title and the text of each message, nothing about cost."""
    return {
        "title": chat.title,
        "model": chat.model,
        "messages": [
            {
                "role": m.role,
                "content": m.content,
                "model": m.model,
                "status": m.status,
                "createdAt": m.created_at.isoformat(),
            }
            for m in messages
            if m.status != MessageStatus.STREAMING
        ],
    }


def filename(chat: Chat, export_format: ExportFormat) -> str:
    """A safe file name for the export, made from the title."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", chat.title).strip("-").lower()[:60].rstrip("-")
    extension = "md" if export_format == "markdown" else "json"
    return f"{slug or 'chat'}.{extension}"
