"""Chat folders: named folders a user files their own chats in."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.chat import lock_order
from assistant.errors import ChatFolderNameTaken, ChatFolderNotFound
from assistant.models import Chat, ChatFolder


async def create(session: AsyncSession, *, user_id: str, name: str) -> ChatFolder:
    """Make a folder for a user's chats.

    Raises:
        ChatFolderNameTaken: the user already has a folder of that name.
    """
    await _check_free(session, user_id=user_id, name=name)
    folder = ChatFolder(user_id=user_id, name=name)
    session.add(folder)
    await session.flush()
    return folder


async def list_owned(session: AsyncSession, *, user_id: str) -> Sequence[ChatFolder]:
    """A user's chat folders, by name."""
    rows = await session.scalars(
        select(ChatFolder)
        .where(ChatFolder.user_id == user_id)
        .order_by(func.lower(ChatFolder.name), ChatFolder.id)
    )
    return list(rows)


async def get_owned(session: AsyncSession, *, user_id: str, folder_id: str) -> ChatFolder:
    """A chat folder of the user's own.

    Raises:
        ChatFolderNotFound: no such folder, or it is another user's.
    """
    folder = await session.get(ChatFolder, folder_id)
    if folder is None or folder.user_id != user_id:
        raise ChatFolderNotFound(folder_id=folder_id)
    return folder


async def rename(session: AsyncSession, *, folder: ChatFolder, name: str) -> ChatFolder:
    """Give a folder a new name.

    Raises:
        ChatFolderNameTaken: the user already has another folder of that name.
    """
    if name != folder.name:
        await _check_free(session, user_id=folder.user_id, name=name)
        folder.name = name
        await session.flush()
    return folder


async def delete(session: AsyncSession, *, folder: ChatFolder) -> None:
    """Remove a folder; its chats stay, in no folder."""
    filed = select(Chat.id).where(Chat.folder_id == folder.id)
    await lock_order.lock(session, chats=filed)  # their rows first, in one order
    await session.delete(folder)
    await session.flush()


async def _check_free(session: AsyncSession, *, user_id: str, name: str) -> None:
    taken = await session.scalar(
        select(ChatFolder.id).where(ChatFolder.user_id == user_id, ChatFolder.name == name)
    )
    if taken is not None:
        raise ChatFolderNameTaken(name=name)
