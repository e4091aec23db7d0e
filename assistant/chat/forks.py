"""Branching a chat off: a new chat holding one branch of another, up to a chosen answer.

As LibreChat's Fork or Open WebUI's Clone: the copy belongs to whoever forks it (the chat's
owner), talks to the same model and assistant with the same toolkits, knowledge, folder and tags,
and goes on by itself. Messages are copied with new ids and their text, status, usage and
timing; ratings stay with the original. Attachments the copied messages carried are copied too,
rows and bytes, so deleting either chat leaves the other whole. Nothing is billed.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant import storage_quota
from assistant.attachments.files import AttachmentStorage
from assistant.attachments.models import ChatAttachment
from assistant.chat import branches
from assistant.errors import MessageNotFound, NotAnAnswer, StillStreaming
from assistant.models import Chat, ChatTag, Message
from assistant.schemas import MessageStatus
from core import ids

SUFFIX = " (branch)"
TITLE_LENGTH = 300
# Kept by the original only: its ratings, and the bookkeeping of an answer being written.
_NOT_COPIED = frozenset(
    {"id", "chat_id", "parent_id", "liked", "feedback", "feedback_at", "process_id"}
    | {"call_reservation_id", "cancel_requested"}
)


async def fork(
    session: AsyncSession,
    *,
    chat: Chat,
    message_id: str,
    storage: AttachmentStorage | None,
    quota: int,
) -> Chat:
    """A new chat of the owner's holding the branch from the root down to an answer; the
    attachments it copies must fit the owner's storage `quota` (bytes).

    Raises:
        MessageNotFound: the chat has no such message.
        NotAnAnswer: the message is the user's own (a branch is taken off at an answer).
        StillStreaming: the answer is still being written.
        StorageQuotaExceeded: the copied attachments would take the owner over `quota`
            (nothing is copied).
    """
    messages = await branches.tree(session, chat=chat)
    target = messages.by_id.get(message_id)
    if target is None:
        raise MessageNotFound(message_id=message_id)
    if target.role != "assistant":
        raise NotAnAnswer("A branch is taken off at an answer.", message_id=message_id)
    if target.status == MessageStatus.STREAMING:
        raise StillStreaming()
    path = messages.path_to(message_id)
    copy = Chat(
        user_id=chat.user_id,
        title=_title(chat.title),
        model=chat.model,
        knowledge_file_ids=list(chat.knowledge_file_ids or []),
        knowledge_folder_ids=list(chat.knowledge_folder_ids or []),
        assistant_id=chat.assistant_id,
        toolkit_ids=list(chat.toolkit_ids) if chat.toolkit_ids is not None else None,
        folder_id=chat.folder_id,
        tags=list(chat.tags or []),
    )
    session.add(copy)
    await session.flush()
    session.add_all(ChatTag(chat_id=copy.id, tag=tag) for tag in copy.tags)
    new_ids = {m.id: ids.new_id() for m in path}
    rows = [_copied(m, copy.id, new_ids) for m in path]
    await session.execute(insert(Message), rows)
    copy.active_leaf_id = new_ids[message_id]
    await _copy_attachments(
        session, chat=chat, copy=copy, new_ids=new_ids, storage=storage, quota=quota
    )
    await session.flush()
    return copy


def _title(title: str) -> str:
    room = TITLE_LENGTH - len(SUFFIX)
    return (title if len(title) <= room else title[: room - 1].rstrip() + "…") + SUFFIX


def _copied(message: Message, chat_id: str, new_ids: dict[str, str]) -> dict[str, Any]:
    row = {
        column.key: getattr(message, column.key)
        for column in Message.__table__.columns
        if column.key not in _NOT_COPIED
    }
    parent = new_ids[message.parent_id] if message.parent_id is not None else None
    return row | {"id": new_ids[message.id], "chat_id": chat_id, "parent_id": parent}


async def _copy_attachments(
    session: AsyncSession,
    *,
    chat: Chat,
    copy: Chat,
    new_ids: dict[str, str],
    storage: AttachmentStorage | None,
    quota: int,
) -> None:
    """The copied messages' attachments, as rows of the new chat with their bytes beside, once
    they fit the owner's storage quota (checked before a byte is copied)."""
    found = await session.scalars(
        select(ChatAttachment).where(
            ChatAttachment.chat_id == chat.id, ChatAttachment.message_id.in_(list(new_ids))
        )
    )
    attachments = list(found)
    if not attachments:
        return
    new = storage_quota.NewFiles(
        sizes={a.storage_key: a.size for a in attachments}, chat_id=copy.id
    )
    await storage_quota.admit(session, user_id=copy.user_id, files=new, default_limit=quota)
    if storage is not None:
        keys = sorted({a.storage_key for a in attachments})
        await asyncio.to_thread(_copy_bytes, storage, chat.id, copy.id, keys)
    rows = []
    for attachment in attachments:
        row = {c.key: getattr(attachment, c.key) for c in ChatAttachment.__table__.columns}
        message_id = new_ids[attachment.message_id or ""]
        rows.append(row | {"id": ids.new_id(), "chat_id": copy.id, "message_id": message_id})
    await session.execute(insert(ChatAttachment), rows)


def _copy_bytes(storage: AttachmentStorage, source: str, target: str, keys: list[str]) -> None:
    old, new = storage.of(source), storage.of(target)
    for key in keys:
        path = old.path_of(key)
        if path.exists():  # a file lost on disk stays lost in both chats, not an error here
            destination = new.path_of(key)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
