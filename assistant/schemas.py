"""Create/Update/Read shapes of chats and messages."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from core.schemas import Schema

Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^,\s](.*\S)?$")]


class MessageStatus(StrEnum):
    """Where a message stands: being written, or how its writing ended (stored as the value)."""

    STREAMING = "streaming"
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


FINAL_STATUSES = frozenset(MessageStatus) - {MessageStatus.STREAMING}
"""A message in one of these is finished: its text and usage will not change."""

ANSWERED = frozenset(
    {
        MessageStatus.COMPLETE,
        MessageStatus.INCOMPLETE,
        MessageStatus.CANCELLED,
        MessageStatus.INTERRUPTED,
    }
)
"""An assistant message in one of these holds an answer worth sending back as history."""


class ChatCreate(Schema):
    """A new chat."""

    title: str | None = Field(default=None, max_length=300)
    model: str | None = Field(default=None, max_length=200)
    assistant_id: str | None = Field(default=None, max_length=26)
    file_ids: list[Annotated[str, Field(max_length=26)]] = Field(default=[], max_length=100)
    folder_ids: list[Annotated[str, Field(max_length=26)]] = Field(default=[], max_length=100)
    toolkit_ids: list[Annotated[str, Field(max_length=40)]] | None = Field(
        default=None, max_length=50
    )


class ChatUpdate(Schema):
    """Changes to a chat."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    model: str | None = Field(default=None, max_length=200)
    file_ids: list[Annotated[str, Field(max_length=26)]] | None = Field(
        default=None, max_length=100
    )
    folder_ids: list[Annotated[str, Field(max_length=26)]] | None = Field(
        default=None, max_length=100
    )
    toolkit_ids: list[Annotated[str, Field(max_length=40)]] | None = Field(
        default=None, max_length=50
    )
    pinned: bool | None = None
    archived: bool | None = None
    folder_id: str | None = Field(default=None, max_length=26)  # a chat folder; null: none
    tags: list[Tag] | None = Field(default=None, max_length=20)


class ChatRead(Schema):
    """A chat."""

    id: str
    title: str
    model: str | None
    assistant_id: str | None = None
    file_ids: list[str] = Field(default=[], validation_alias="knowledge_file_ids")
    folder_ids: list[str] = Field(default=[], validation_alias="knowledge_folder_ids")
    toolkit_ids: list[str] | None = None
    active_leaf_id: str | None = None
    pinned: bool = False
    archived: bool = False
    folder_id: str | None = None
    tags: list[str] = Field(default=[])
    created_at: datetime
    updated_at: datetime


class MessageCreate(Schema):
    """A user message; the answer streams back when `stream` is true."""

    content: str = Field(min_length=1, max_length=200_000)
    model: str | None = Field(default=None, max_length=200)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stream: bool = False
    # Attachments of the chat (`POST /api/chats/{chatId}/attachments`) this message carries.
    attachment_ids: list[str] = Field(default_factory=list, max_length=20)


class RegenerateRequest(Schema):
    """Options for answering the last user message again."""

    model: str | None = Field(default=None, max_length=200)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stream: bool = False


class BranchSwitch(Schema):
    """The message whose branch the chat shows next."""

    message_id: str = Field(min_length=1, max_length=26)


class ChatFolderWrite(Schema):
    """A chat folder's name, to create or rename it."""

    name: str = Field(min_length=1, max_length=200)


class ChatFolderRead(Schema):
    """A folder of chats."""

    id: str
    name: str
    created_at: datetime
    updated_at: datetime


class ChatShareRead(Schema):
    """A read-only link to a copy of a chat; the token is shown only when it is made."""

    id: str
    chat_id: str
    title: str
    token_prefix: str
    created_at: datetime
    revoked_at: datetime | None


class ToolApproval(Schema):
    """The user's decision on a tool call that needs approval."""

    approve: bool


class MessageRead(Schema):
    """A message with its usage and timing."""

    id: str
    chat_id: str
    role: str
    content: str
    model: str | None
    status: MessageStatus
    prompt_tokens: int
    completion_tokens: int
    cost_micros: int
    usage_estimated: bool
    ttft_ms: int | None
    duration_ms: int | None
    error_code: str | None
    error_message: str | None
    reasoning: str | None = None
    reasoning_ms: int | None = None
    citations: list[dict[str, Any]] | None = None
    tool_events: list[dict[str, Any]] | None = None
    dropped_turns: int = 0
    parent_id: str | None = None
    sibling_ids: list[str] = Field(default=[])
    sibling_index: int = 0
    liked: bool | None = None
    feedback: str | None = None
    edited: bool = False
    edited_at: datetime | None = None
    original_content: str | None = Field(
        default=None, description="What the model wrote, when its owner edited the answer."
    )
    created_at: datetime
    finished_at: datetime | None


Visibility = Literal["private", "team", "instance"]
Permission = Literal["use", "edit"]
SKILL_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SECRET_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class AssistantFields(Schema):
    """What an assistant is made of; shared by create, update and export."""

    description: str = Field(default="", max_length=2000)
    icon: str = Field(default="", max_length=2000)
    instructions: str = Field(default="", max_length=100_000)
    model: str | None = Field(default=None, max_length=200)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    starters: list[Annotated[str, Field(max_length=500)]] = Field(default=[], max_length=20)
    toolkit_ids: list[Annotated[str, Field(max_length=26)]] = Field(default=[], max_length=100)


class AssistantCreate(AssistantFields):
    """A new assistant; private to its creator unless shared."""

    name: str = Field(min_length=1, max_length=200)
    visibility: Visibility = "private"
    team_id: str | None = Field(default=None, max_length=26)
    permission: Permission = "use"


class AssistantUpdate(Schema):
    """Changes to an assistant (or a draft); omitted fields stay."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    icon: str | None = Field(default=None, max_length=2000)
    instructions: str | None = Field(default=None, max_length=100_000)
    model: str | None = Field(default=None, max_length=200)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    starters: list[Annotated[str, Field(max_length=500)]] | None = Field(
        default=None, max_length=20
    )
    toolkit_ids: list[Annotated[str, Field(max_length=26)]] | None = Field(
        default=None, max_length=100
    )
    visibility: Visibility | None = None
    team_id: str | None = Field(default=None, max_length=26)
    permission: Permission | None = None


class AssistantRead(AssistantFields):
    """An assistant as the API shows it, with what the caller may do with it."""

    id: str
    name: str
    owner_id: str
    editing_id: str | None
    visibility: str
    team_id: str | None
    permission: str
    access: str
    created_at: datetime
    updated_at: datetime


class SkillCreate(Schema):
    """A new skill; users invoke it with `/name`."""

    name: str = Field(pattern=SKILL_NAME)
    description: str = Field(default="", max_length=2000)
    instructions: str = Field(default="", max_length=100_000)
    toolkit_ids: list[Annotated[str, Field(max_length=26)]] = Field(default=[], max_length=100)
    secret_names: list[Annotated[str, Field(pattern=SECRET_NAME)]] = Field(
        default=[], max_length=100
    )


class SkillUpdate(Schema):
    """Changes to a skill; omitted fields stay."""

    name: str | None = Field(default=None, pattern=SKILL_NAME)
    description: str | None = Field(default=None, max_length=2000)
    instructions: str | None = Field(default=None, max_length=100_000)
    toolkit_ids: list[Annotated[str, Field(max_length=26)]] | None = Field(
        default=None, max_length=100
    )
    secret_names: list[Annotated[str, Field(pattern=SECRET_NAME)]] | None = Field(
        default=None, max_length=100
    )


class SkillRead(Schema):
    """A skill of an assistant."""

    id: str
    assistant_id: str
    name: str
    description: str
    instructions: str
    toolkit_ids: list[str]
    secret_names: list[str]
    created_at: datetime
    updated_at: datetime


class SecretCreate(Schema):
    """A new secret: the value is stored encrypted and never shown again."""

    name: str = Field(pattern=SECRET_NAME)
    value: str = Field(min_length=1, max_length=20_000, repr=False)
    description: str = Field(default="", max_length=2000)


class SecretPut(Schema):
    """A secret's new value (and description), creating it when missing."""

    value: str = Field(min_length=1, max_length=20_000, repr=False)
    description: str | None = Field(default=None, max_length=2000)


class SecretRead(Schema):
    """A secret without its value."""

    name: str
    assistant_id: str
    description: str
    key_id: str
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None


class MemoryCreate(Schema):
    """A fact for the assistant to remember about you."""

    content: str = Field(min_length=1, max_length=4000)


class MemoryRead(Schema):
    """A memory of yours."""

    id: str
    assistant_id: str
    content: str
    created_at: datetime
    updated_at: datetime


class SkillExport(Schema):
    """A skill inside an assistant export."""

    name: str = Field(pattern=SKILL_NAME)
    description: str = Field(default="", max_length=2000)
    instructions: str = Field(default="", max_length=100_000)


class SecretExport(Schema):
    """A secret's name inside an assistant export; never its value."""

    name: str = Field(pattern=SECRET_NAME)
    description: str = Field(default="", max_length=2000)


class KnowledgeExport(Schema):
    """The library file and folder ids an exported assistant answered from."""

    file_ids: list[Annotated[str, Field(max_length=26)]] = Field(default=[], max_length=1000)
    folder_ids: list[Annotated[str, Field(max_length=26)]] = Field(default=[], max_length=1000)


class AssistantExport(Schema):
    """An assistant as portable JSON: fields, skills, the names of its secrets and the ids of
    its knowledge."""

    format: Literal["switchboard-assistant"] = "switchboard-assistant"
    version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    assistant: AssistantFields
    skills: list[SkillExport] = Field(default=[], max_length=200)
    secrets: list[SecretExport] = Field(default=[], max_length=200)
    knowledge: KnowledgeExport = Field(default_factory=KnowledgeExport)


class KnowledgeAttach(Schema):
    """Library files and folders to attach to an assistant (each must be one you may see)."""

    file_ids: list[Annotated[str, Field(max_length=26)]] = Field(default=[], max_length=100)
    folder_ids: list[Annotated[str, Field(max_length=26)]] = Field(default=[], max_length=100)


class KnowledgeItemRead(Schema):
    """A library file or folder an assistant answers from."""

    id: str
    assistant_id: str
    file_id: str | None
    folder_id: str | None
    name: str
    uploaded: bool
    created_at: datetime
