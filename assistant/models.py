"""Chat tables: chats and their messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.database import Base, IdMixin, TimestampMixin


class Chat(IdMixin, TimestampMixin, Base):
    """A conversation owned by the user who started it."""

    __tablename__ = "assistant_chat"
    # The chat list's order (migration assistant_0019).
    __table_args__ = (Index("ix_assistant_chat_list_order", "user_id", "pinned", "updated_at"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300), default="New chat")
    model: Mapped[str | None] = mapped_column(String(200))
    # Library files and folders the chat answers from (knowledge).
    knowledge_file_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    knowledge_folder_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The assistant (or assistant draft) the chat talks to; the chat outlives it.
    assistant_id: Mapped[str | None] = mapped_column(
        ForeignKey("assistant_assistant.id", ondelete="SET NULL"), index=True
    )
    # Toolkits switched on for this chat; None uses the assistant's.
    toolkit_ids: Mapped[list[str] | None] = mapped_column(JSON)
    # The last message of the branch shown and continued (messages form a tree by parent_id).
    active_leaf_id: Mapped[str | None] = mapped_column(String(26))
    pinned: Mapped[bool] = mapped_column(default=False, server_default="0")
    archived: Mapped[bool] = mapped_column(default=False, server_default="0")
    folder_id: Mapped[str | None] = mapped_column(
        ForeignKey("assistant_chat_folder.id", ondelete="SET NULL"), index=True
    )
    # Shown as is; `ChatTag` rows hold the same tags for filtering.
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")


class ChatFolder(IdMixin, TimestampMixin, Base):
    """A folder a user files their chats in."""

    __tablename__ = "assistant_chat_folder"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))


class ChatTag(Base):
    """One tag of a chat, for filtering the chat list by tag."""

    __tablename__ = "assistant_chat_tag"

    chat_id: Mapped[str] = mapped_column(
        ForeignKey("assistant_chat.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class ChatShare(IdMixin, TimestampMixin, Base):
    """A read-only link to a copy of a chat taken when it was shared; revocable."""

    __tablename__ = "assistant_chat_share"

    chat_id: Mapped[str] = mapped_column(
        ForeignKey("assistant_chat.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the link's token; the token itself is shown once.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    revoked_at: Mapped[datetime | None]


class Message(IdMixin, TimestampMixin, Base):
    """One turn of a chat: the user's words or the model's answer, with usage and timing."""

    __tablename__ = "assistant_message"
    # A new turn asks whether any answer of the chat is still streaming (`window`): one lookup,
    # whatever the chat's length or the number of answers streaming elsewhere.
    __table_args__ = (Index("ix_assistant_message_chat_status", "chat_id", "status"),)

    # Indexed first in ix_assistant_message_chat_status, which serves every lookup by chat.
    chat_id: Mapped[str] = mapped_column(ForeignKey("assistant_chat.id", ondelete="CASCADE"))
    # The message this one follows; siblings (same parent) are alternative branches.
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("assistant_message.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str | None] = mapped_column(String(200))
    # Indexed: every process's sweep looks for answers left `streaming` every few seconds.
    # A MessageStatus value, kept as plain text so a stored row always reads back.
    status: Mapped[str] = mapped_column(String(20), default="complete", index=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_micros: Mapped[int] = mapped_column(Integer, default=0)
    usage_estimated: Mapped[bool] = mapped_column(default=False)
    ttft_ms: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(String(2000))
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    # A reader follows this `streaming` answer from another process: on PostgreSQL each
    # checkpoint then sends a NOTIFY (`saved_stream`); nobody else pays for one.
    followed: Mapped[bool] = mapped_column(default=False, server_default="0")
    finished_at: Mapped[datetime | None]
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # The tool calls made while answering, with their results.
    tool_events: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # How many of the oldest turns were left out of the prompt to fit the context window.
    dropped_turns: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # How many turns of history (`history.turns`) the path above this message holds, set when
    # it is written (`window`); None for older messages and after a correction made an empty
    # answer a turn: their count is walked.
    history_turns: Mapped[int | None] = mapped_column(Integer)
    # The process writing a `streaming` answer (`core.processes`): if it dies, the answer is ended.
    process_id: Mapped[str | None] = mapped_column(String(26))
    # The model call a `streaming` answer is writing, as of its last checkpoint: its billing
    # reservation and where its text starts in `content` (if the process dies, billing is told
    # how many tokens of that text were delivered).
    call_reservation_id: Mapped[str | None] = mapped_column(String(26))
    call_text_start: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The model's reasoning apart from its answer (never sent back to a model), how long it
    # reasoned, where each stretch of it happened (`runs.Thought`: re-attaching streams replay
    # it in order) and where the reasoning of the call being written starts.
    reasoning: Mapped[str | None] = mapped_column(Text)
    reasoning_ms: Mapped[int | None] = mapped_column(Integer)
    reasoning_marks: Mapped[list[list[int]] | None] = mapped_column(JSON)
    call_reasoning_start: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The chat's owner's rating of an answer (Informer's `liked`) and comment, and when given.
    liked: Mapped[bool | None]
    feedback: Mapped[str | None] = mapped_column(String(2000))
    feedback_at: Mapped[datetime | None] = mapped_column(index=True)
    # An answer its owner corrected (`answer_edits`): when, and what the model first wrote.
    edited_at: Mapped[datetime | None]
    original_content: Mapped[str | None] = mapped_column(Text)

    @property
    def edited(self) -> bool:
        """Whether the chat's owner corrected this answer's text."""
        return self.edited_at is not None


class Assistant(IdMixin, TimestampMixin, Base):
    """A named persona: instructions, a default model, starters, toolkits, and who may use it.

    A draft is a row whose `editing_id` points at the published assistant it will replace.
    """

    __tablename__ = "assistant_assistant"

    owner_id: Mapped[str] = mapped_column(
        ForeignKey("core_user.id", ondelete="CASCADE"), index=True
    )
    editing_id: Mapped[str | None] = mapped_column(
        ForeignKey("assistant_assistant.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    icon: Mapped[str] = mapped_column(String(2000), default="")
    instructions: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str | None] = mapped_column(String(200))
    temperature: Mapped[float | None]
    max_tokens: Mapped[int | None] = mapped_column(Integer)
    starters: Mapped[list[str]] = mapped_column(JSON, default=list)
    toolkit_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # private | team | instance; `permission` (use | edit) is what the shared-with get.
    visibility: Mapped[str] = mapped_column(String(20), default="private")
    team_id: Mapped[str | None] = mapped_column(
        ForeignKey("core_team.id", ondelete="SET NULL"), index=True
    )
    permission: Mapped[str] = mapped_column(String(20), default="use")


class Skill(IdMixin, TimestampMixin, Base):
    """A named capability of an assistant: a description the model sees, instructions on use."""

    __tablename__ = "assistant_skill"
    __table_args__ = (UniqueConstraint("assistant_id", "name"),)

    assistant_id: Mapped[str] = mapped_column(
        ForeignKey("assistant_assistant.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(2000), default="")
    instructions: Mapped[str] = mapped_column(Text, default="")
    toolkit_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret_names: Mapped[list[str]] = mapped_column(JSON, default=list)


class Secret(IdMixin, TimestampMixin, Base):
    """A credential of an assistant, AES-GCM encrypted under the keyring key `key_id`."""

    __tablename__ = "assistant_secret"
    __table_args__ = (UniqueConstraint("assistant_id", "name"),)

    assistant_id: Mapped[str] = mapped_column(
        ForeignKey("assistant_assistant.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(2000), default="")
    key_id: Mapped[str] = mapped_column(String(64))
    # 12-byte nonce followed by the AES-GCM ciphertext and tag.
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    last_used_at: Mapped[datetime | None]


class Memory(IdMixin, TimestampMixin, Base):
    """A fact an assistant keeps about one user, seen only by that user."""

    __tablename__ = "assistant_memory"

    assistant_id: Mapped[str] = mapped_column(
        ForeignKey("assistant_assistant.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    content: Mapped[str] = mapped_column(Text)


class KnowledgeItem(IdMixin, TimestampMixin, Base):
    """A library file or folder an assistant answers from: attached by an editor, or uploaded
    straight to the assistant (`uploaded`). It keeps the owner of the file or folder, whose
    library the assistant's retrieval reads, whoever chats with it.
    """

    __tablename__ = "assistant_knowledge"
    __table_args__ = (
        UniqueConstraint("assistant_id", "file_id", name="uq_assistant_knowledge_file"),
        UniqueConstraint("assistant_id", "folder_id", name="uq_assistant_knowledge_folder"),
    )

    assistant_id: Mapped[str] = mapped_column(
        ForeignKey("assistant_assistant.id", ondelete="CASCADE"), index=True
    )
    file_id: Mapped[str | None] = mapped_column(
        ForeignKey("knowledge_file.id", ondelete="CASCADE"), index=True
    )
    folder_id: Mapped[str | None] = mapped_column(
        ForeignKey("knowledge_folder.id", ondelete="CASCADE"), index=True
    )
    uploaded: Mapped[bool] = mapped_column(default=False)
    owner_user_id: Mapped[str | None] = mapped_column(String(26))
    team_id: Mapped[str | None] = mapped_column(String(26))
    added_by: Mapped[str | None] = mapped_column(String(26))


class ToolApproval(IdMixin, Base):
    """A tool call with side effects waiting on its user's decision, or the decision made.

    Kept in the database so that a decision posted to any worker reaches the one generating."""

    __tablename__ = "assistant_tool_approval"
    __table_args__ = (UniqueConstraint("message_id", "call_id"),)

    message_id: Mapped[str] = mapped_column(
        ForeignKey("assistant_message.id", ondelete="CASCADE"), index=True
    )
    chat_id: Mapped[str] = mapped_column(String(26), index=True)
    call_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    # pending, then approved, refused or expired (no decision in time, or the answer ended)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    decided_at: Mapped[datetime | None]


class StoredResponse(Base):
    """A `/v1/responses` answer kept for its owner (`store: true`): what came in, what went out.

    A conversation is rebuilt by following `previous_id` back; each row holds only its own turn.
    """

    __tablename__ = "assistant_response"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    # Not a foreign key: deleting a response leaves the later turns of its chain in place.
    previous_id: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    # The turn's own input items (not those of earlier turns) and the response as it was returned.
    input_items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Its place in the chain (1 for the first turn) and the JSON size of the chain's items so far.
    turns: Mapped[int] = mapped_column(Integer)
    chain_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
