"""What the /mcp tools return: each tool's result is one of these models, so `tools/list`
gives every tool an `outputSchema` and a call's `structuredContent` follows it (the MCP client
checks that). Keys are camelCase, in the structured content and in the text block alike."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from api.hal import Wire


class Output(Wire):
    """Base of the tool results: dumped by alias wherever they are dumped, so the text block
    the MCP SDK writes for older clients has the same keys as the structured content."""

    model_config = ConfigDict(serialize_by_alias=True)


class ChatSummary(Output):
    """One of the caller's chats."""

    id: str
    title: str
    model: str | None
    updated_at: str


class ChatList(Output):
    """The caller's chats, most recently active first, and how many match."""

    chats: list[ChatSummary]
    total: int


class ChatLine(Output):
    """A message of a chat."""

    role: str
    content: str
    status: str


class ChatTranscript(Output):
    """A chat with its messages, oldest first."""

    id: str
    title: str
    messages: list[ChatLine]


class AssistantSummary(Output):
    """An assistant the caller may talk to."""

    id: str
    name: str
    description: str
    starters: list[str]


class AssistantList(Output):
    """Assistants the caller may use, and how many match."""

    assistants: list[AssistantSummary]
    total: int


class Answer(Output):
    """A chat turn's answer, where it is kept and the passages it cites."""

    chat_id: str
    message_id: str
    answer: str
    citations: list[dict[str, Any]]


class Passage(Output):
    """A passage of a library file and where it comes from."""

    file_id: str
    file_name: str
    page: int | None
    section: list[str]
    text: str
    score: float


class Passages(Output):
    """Passages that best answer the query, best first."""

    passages: list[Passage]


class FileSummary(Output):
    """A library file the caller may read."""

    id: str
    name: str
    type: str
    status: str


class FileList(Output):
    """Library files the caller may read, by name."""

    files: list[FileSummary]


class FileText(Output):
    """A library file's indexed text."""

    id: str
    name: str
    status: str
    text: str
