"""Chats and their messages: owned by the user who started them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from assistant import sharing
from assistant.errors import ChatNotFound, MessageNotFound
from assistant.models import Chat, Message
from assistant.schemas import ChatCreate, ChatUpdate
from core import clock
from core.listing import Page, PageRequest, paginate

TITLE_LENGTH = 60


async def create(
    session: AsyncSession, *, user_id: str, data: ChatCreate, team_ids: tuple[str, ...] = ()
) -> Chat:
    """Start a chat for a user, with an assistant (or a draft to try) they may use.

    Raises:
        AssistantNotFound: the assistant is not shared with the user.
    """
    if data.assistant_id is not None:
        viewer = sharing.Viewer(user_id, team_ids)
        await sharing.get_usable(session, viewer=viewer, assistant_id=data.assistant_id)
    chat = Chat(
        user_id=user_id,
        title=data.title or "New chat",
        model=data.model,
        assistant_id=data.assistant_id,
        toolkit_ids=data.toolkit_ids,
    )
    session.add(chat)
    await session.flush()
    return chat


async def get_owned(session: AsyncSession, *, user_id: str, chat_id: str) -> Chat:
    """A chat of the user's own.

    Raises:
        ChatNotFound: there is no such chat, or it is another user's.
    """
    chat = await session.get(Chat, chat_id)
    if chat is None or chat.user_id != user_id:
        raise ChatNotFound(chat_id=chat_id)
    return chat


async def list_page(session: AsyncSession, *, user_id: str, page: PageRequest) -> Page[Chat]:
    """A user's chats, newest activity first, searchable by title."""
    return await paginate(
        session,
        select(Chat).where(Chat.user_id == user_id),
        page,
        sortable={"createdAt": Chat.created_at, "updatedAt": Chat.updated_at, "title": Chat.title},
        searchable=(Chat.title,),
        default_sort="-updatedAt",
    )


async def update_chat(session: AsyncSession, *, chat: Chat, data: ChatUpdate) -> Chat:
    """Rename a chat or change its model."""
    if data.title is not None:
        chat.title = data.title
    if data.model is not None:
        chat.model = data.model
    if data.toolkit_ids is not None:
        chat.toolkit_ids = data.toolkit_ids
    await session.flush()
    return chat


async def delete(session: AsyncSession, *, chat: Chat) -> None:
    """Remove a chat and its messages."""
    await session.delete(chat)
    await session.flush()


async def messages(session: AsyncSession, *, chat: Chat) -> Sequence[Message]:
    """A chat's messages, oldest first."""
    rows = await session.scalars(
        select(Message).where(Message.chat_id == chat.id).order_by(Message.created_at, Message.id)
    )
    return list(rows)


async def messages_page(session: AsyncSession, *, chat: Chat, page: PageRequest) -> Page[Message]:
    """A page of a chat's messages, oldest first by default."""
    return await paginate(
        session,
        select(Message).where(Message.chat_id == chat.id),
        page,
        sortable={"createdAt": Message.created_at},
        searchable=(Message.content,),
        default_sort="createdAt",
    )


async def get_message(session: AsyncSession, *, chat: Chat, message_id: str) -> Message:
    """A message of a chat.

    Raises:
        MessageNotFound: the chat has no such message.
    """
    message = await session.get(Message, message_id)
    if message is None or message.chat_id != chat.id:
        raise MessageNotFound(message_id=message_id)
    return message


def title_from(content: str) -> str:
    """A chat title made from its first message."""
    line = " ".join(content.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


async def mark_stale_streams_interrupted(session: AsyncSession, *, older_than: timedelta) -> int:
    """Mark answers left `streaming` by a process that died as `interrupted` (kept text stays)."""
    cutoff = clock.now() - older_than
    result = await session.execute(
        update(Message)
        .where(Message.status == "streaming", Message.updated_at < cutoff)
        .values(status="interrupted", finished_at=clock.now())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
