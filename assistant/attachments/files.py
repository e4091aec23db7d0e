"""Attachments entering and leaving a chat: checked and read like library files, stored per chat.

Images are recognised by their first bytes (PNG, JPEG, GIF, WebP) and kept as they are; every
other file goes through the library's bounded parser (type by content, size, page and
decompression limits, a worker process with a time and memory cap), so an attachment is refused
exactly as a library upload would be, and its text and chunks are kept for the prompt.
Bytes live under `<root>/<chat id>/`, addressed by content, and the folder goes with the chat;
a deleted attachment's bytes go with a later sweep (`sweep_bytes`), as the library's do.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant import storage_quota
from assistant.attachments.errors import AttachmentNotFound
from assistant.attachments.models import ChatAttachment
from assistant.models import Chat
from core import tokens
from knowledge import library, parsing
from knowledge.chunking import chunk_document
from knowledge.documents import ParsedDocument, ParseLimits
from knowledge.errors import KnowledgeError
from knowledge.intake import IncomingFile
from knowledge.storage import FileStorage, sizes_by_key, sweep

_CHAT_ID = re.compile(r"^[0-9A-Za-z]{1,40}$")
DOCUMENT_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "markdown": "text/markdown",
    "text": "text/plain",
    "html": "text/html",
    "csv": "text/csv",
    "json": "application/json",
}


def image_type(data: bytes) -> str | None:
    """The media type of an image models take (PNG, JPEG, GIF, WebP), by its first bytes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class AttachmentStorage:
    """Each chat's attachment bytes in a folder of its own (blocking: call from a thread)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def of(self, chat_id: str) -> FileStorage:
        """The content-addressed storage of one chat."""
        if not _CHAT_ID.fullmatch(chat_id):
            raise ValueError("A chat id is letters and digits.")
        return FileStorage(self.root / chat_id)

    def forget_chat(self, chat_id: str) -> None:
        """Remove every attachment of a chat from disk."""
        shutil.rmtree(self.of(chat_id).root, ignore_errors=True)


def _chunks(document: ParsedDocument) -> tuple[list[dict[str, object]], int]:
    chunks = [
        {k: v for k, v in asdict(c).items() if k in ("text", "page", "section", "start", "end")}
        for c in chunk_document(document)
    ]
    return chunks, tokens.count_text(document.text)


async def _read(incoming: IncomingFile, limits: ParseLimits) -> ChatAttachment:
    name = library.file_name(incoming.name)
    media_type = image_type(incoming.data)
    if media_type is not None:
        return ChatAttachment(name=name, media_type=media_type, kind="image")
    try:
        document = await parsing.parse_in_worker(incoming.data, limits)
    except KnowledgeError as exc:
        exc.details["name"] = name
        raise
    chunks, count = await asyncio.to_thread(_chunks, document)
    return ChatAttachment(
        name=name,
        media_type=DOCUMENT_TYPES[document.file_type.value],
        kind="document",
        text=document.text,
        chunks=chunks,
        text_tokens=count,
    )


async def add(
    session: AsyncSession,
    *,
    storage: AttachmentStorage,
    chat: Chat,
    user_id: str,
    files: Sequence[IncomingFile],
    limits: ParseLimits,
    quota: int,
) -> list[ChatAttachment]:
    """Check and read every file, then store them all as the chat's attachments (`ready`),
    if they fit the user's storage `quota` (bytes; see `storage_quota.admit`).

    Raises:
        FileTooLarge, UnsupportedFileType, DecompressionBomb, TooManyPages, EncryptedFile,
            CorruptFile, ParsingTimedOut, ParserCrashed: as the library's parser refuses a file
            (named in the details); nothing of the upload is stored then.
        StorageQuotaExceeded: the files would take the user over `quota`; nothing is stored.
    """
    rows = [await _read(incoming, limits) for incoming in files]
    sizes = await sizes_by_key([incoming.data for incoming in files])
    new = storage_quota.NewFiles(sizes=sizes, chat_id=chat.id)
    await storage_quota.admit(session, user_id=user_id, files=new, default_limit=quota)
    chat_files = storage.of(chat.id)
    for row, incoming in zip(rows, files, strict=True):
        row.storage_key = await asyncio.to_thread(chat_files.put, incoming.data)
        row.chat_id, row.user_id, row.size, row.status = (
            chat.id,
            user_id,
            len(incoming.data),
            "ready",
        )
        session.add(row)
    await session.flush()
    return rows


async def get(session: AsyncSession, *, chat: Chat, attachment_id: str) -> ChatAttachment:
    """An attachment of the chat.

    Raises:
        AttachmentNotFound: the chat has no such attachment.
    """
    row = await session.get(ChatAttachment, attachment_id)
    if row is None or row.chat_id != chat.id:
        raise AttachmentNotFound(attachment_id=attachment_id)
    return row


async def list_for(session: AsyncSession, *, chat: Chat) -> Sequence[ChatAttachment]:
    """The chat's attachments, oldest first."""
    query = select(ChatAttachment).where(ChatAttachment.chat_id == chat.id)
    return (await session.scalars(query.order_by(ChatAttachment.id))).all()


def read(storage: AttachmentStorage, row: ChatAttachment) -> bytes:
    """An attachment's bytes (blocking: call from a thread).

    Raises:
        StoredFileMissing: the bytes are gone.
    """
    return storage.of(row.chat_id).read(row.storage_key)


async def chats_with_files(session: AsyncSession, *, user_id: str) -> list[str]:
    """The user's chats that hold attachments (their folders go when the user does)."""
    query = select(ChatAttachment.chat_id).where(ChatAttachment.user_id == user_id).distinct()
    return list((await session.scalars(query)).all())


async def delete(session: AsyncSession, *, row: ChatAttachment) -> None:
    """Delete an attachment; its bytes stay until `sweep_bytes` finds no attachment of the chat
    holding them (another upload to the chat may be reusing them right now)."""
    await session.delete(row)
    await session.flush()


async def sweep_bytes(
    factory: async_sessionmaker[AsyncSession], *, storage: AttachmentStorage, grace_seconds: float
) -> int:
    """Remove attachment bytes no attachment of their chat holds and no upload put for
    `grace_seconds` (a deleted chat's folder goes with it, see `forget_chat`)."""
    chats = await asyncio.to_thread(_chat_folders, storage.root)
    removed = 0
    for chat_id in chats:

        async def in_use(keys: Sequence[str], chat_id: str = chat_id) -> set[str]:
            query = select(ChatAttachment.storage_key).where(
                ChatAttachment.chat_id == chat_id, ChatAttachment.storage_key.in_(keys)
            )
            async with factory() as session:
                return set((await session.scalars(query)).all())

        chat_files = storage.of(chat_id)
        removed += await sweep(chat_files, in_use=in_use, grace_seconds=grace_seconds)
    return removed


def _chat_folders(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return [entry.name for entry in os.scandir(root) if _CHAT_ID.fullmatch(entry.name)]
