"""Chats and their messages: owned by the user who started them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete as delete_rows
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.assistants import sharing
from assistant.chat import branches, lock_order
from assistant.chat import folders as chat_folders
from assistant.chat import search as chat_search
from assistant.chat.search import ChatFilter
from assistant.errors import ChatNotFound, MessageNotFound
from assistant.models import Chat, ChatTag, Message
from assistant.schemas import ChatCreate, ChatUpdate
from core.listing import Page, PageRequest, paginate
from knowledge import library
from knowledge.index import TenantScope

TITLE_LENGTH = 60


async def create(
    session: AsyncSession, *, user_id: str, data: ChatCreate, team_ids: tuple[str, ...] = ()
) -> Chat:
    """Start a chat for a user, with an assistant (or a draft to try) they may use, and the
    library files and folders it answers from.

    Raises:
        AssistantNotFound: the assistant is not shared with the user.
        LibraryFileNotFound, FolderNotFound: knowledge the user (with `team_ids`) may not see.
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
    await attach_knowledge(
        session, chat=chat, team_ids=team_ids, file_ids=data.file_ids, folder_ids=data.folder_ids
    )
    return chat


async def attach_knowledge(
    session: AsyncSession,
    *,
    chat: Chat,
    team_ids: tuple[str, ...],
    file_ids: Sequence[str] | None,
    folder_ids: Sequence[str] | None,
) -> None:
    """Give a chat library files and folders to answer from (`None` leaves one list as it is).

    Raises:
        LibraryFileNotFound: a file is unknown or not visible to the chat's owner and teams.
        FolderNotFound: a folder is unknown or not visible to them.
    """
    scope = TenantScope(chat.user_id, team_ids)
    await library.visible_ids(
        session, scope=scope, file_ids=file_ids or (), folder_ids=folder_ids or ()
    )
    if file_ids is not None:
        chat.knowledge_file_ids = list(dict.fromkeys(file_ids))
    if folder_ids is not None:
        chat.knowledge_folder_ids = list(dict.fromkeys(folder_ids))
    await session.flush()


async def get_owned(session: AsyncSession, *, user_id: str, chat_id: str) -> Chat:
    """A chat of the user's own.

    Raises:
        ChatNotFound: there is no such chat, or it is another user's.
    """
    chat = await session.get(Chat, chat_id)
    if chat is None or chat.user_id != user_id:
        raise ChatNotFound(chat_id=chat_id)
    return chat


async def list_page(
    session: AsyncSession,
    *,
    user_id: str,
    page: PageRequest,
    filters: ChatFilter = ChatFilter(),
) -> Page[Chat]:
    """A user's chats, pinned first then newest activity; `q` searches titles and messages.

    Raises:
        InvalidSort: the sort names a field chats cannot be sorted by.
    """
    found = await chat_search.listing(session, user_id=user_id, filters=filters, page=page)
    return await paginate(
        session,
        found.query,
        page,
        sortable={"createdAt": Chat.created_at, "updatedAt": Chat.updated_at, "title": Chat.title},
        default_sort="-updatedAt",
        count_with_page=bool(page.q and page.q.strip()),  # the search, evaluated once
        total=found.total,  # PostgreSQL, one word: kept counts
    )


async def update_chat(
    session: AsyncSession, *, chat: Chat, data: ChatUpdate, team_ids: tuple[str, ...] = ()
) -> Chat:
    """Rename a chat, change its model, toolkits or knowledge, pin, archive, file or tag it.

    Raises:
        LibraryFileNotFound, FolderNotFound: knowledge the owner (with `team_ids`) may not see.
        ChatFolderNotFound: the folder is not one of the chat owner's.
        ChatNotFound: the chat was deleted meanwhile (renamed or archived).
    """
    if data.title is not None or data.archived is not None:  # the owner's counts change
        await lock_order.lock_one(session, chat)
    await attach_knowledge(
        session, chat=chat, team_ids=team_ids, file_ids=data.file_ids, folder_ids=data.folder_ids
    )
    if data.title is not None:
        chat.title = data.title
    if data.model is not None:
        chat.model = data.model
    if data.toolkit_ids is not None:
        chat.toolkit_ids = data.toolkit_ids
    if data.pinned is not None:
        chat.pinned = data.pinned
    if data.archived is not None:
        chat.archived = data.archived
    if "folder_id" in data.model_fields_set:
        if data.folder_id is not None:
            await chat_folders.get_owned(session, user_id=chat.user_id, folder_id=data.folder_id)
        chat.folder_id = data.folder_id
    if data.tags is not None:
        await _set_tags(session, chat=chat, tags=data.tags)
    await session.flush()
    return chat


async def _set_tags(session: AsyncSession, *, chat: Chat, tags: Sequence[str]) -> None:
    """Replace a chat's tags (kept in order, without repeats)."""
    unique = list(dict.fromkeys(tag.strip() for tag in tags))
    await session.execute(delete_rows(ChatTag).where(ChatTag.chat_id == chat.id))
    session.add_all(ChatTag(chat_id=chat.id, tag=tag) for tag in unique)
    chat.tags = unique


async def delete(session: AsyncSession, *, chat: Chat) -> None:
    """Remove a chat and its messages.

    Raises:
        ChatNotFound: the chat was deleted meanwhile.
    """
    await lock_order.lock_one(session, chat, deleting=True)
    await session.delete(chat)
    await session.flush()


async def messages(session: AsyncSession, *, chat: Chat) -> Sequence[Message]:
    """The messages of a chat's active branch, oldest first."""
    return [branch.message for branch in await branches.active_branch(session, chat=chat)]


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
