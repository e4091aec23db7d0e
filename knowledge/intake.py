"""Files entering and leaving the library: checked, stored by content, recorded, and removed whole.

A file is checked before anything is stored (size, count, type by content); bombs and corrupt
files are caught later by the parser, in the worker, and marked `failed` with the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import library
from knowledge.detection import detect_file_type
from knowledge.errors import CorruptFile, FileTooLarge, KnowledgeError, TooManyFiles
from knowledge.index import Owner
from knowledge.models import LibraryFile, LibraryFolder
from knowledge.storage import FileStorage, sweep
from knowledge.vector_store import VectorStore


@dataclass(frozen=True)
class IncomingFile:
    """A file as received: its name and bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class UploadLimits:
    """How much one upload may carry."""

    max_bytes: int
    max_files: int


def check_upload(files: Sequence[IncomingFile], limits: UploadLimits) -> list[str]:
    """Each file's type by content, once every file passed the limits (blocking: a thread).

    Raises:
        TooManyFiles: more files than one upload may carry.
        FileTooLarge: a file is over the size limit (named in the details).
        UnsupportedFileType: a file's content is not of a supported type.
        CorruptFile: a file cannot be read far enough to tell its type (named in the details).
    """
    if len(files) > limits.max_files:
        raise TooManyFiles(files=len(files), limit=limits.max_files)
    for incoming in files:
        if len(incoming.data) > limits.max_bytes:
            raise FileTooLarge(
                name=library.file_name(incoming.name),
                size=len(incoming.data),
                limit=limits.max_bytes,
            )
    types = []
    for incoming in files:
        try:
            types.append(str(detect_file_type(incoming.data)))
        except KnowledgeError as exc:
            exc.details["name"] = library.file_name(incoming.name)
            raise
        except Exception as exc:  # no content may become a 5xx: whatever it is, it is unreadable
            raise CorruptFile(name=library.file_name(incoming.name)) from exc
    return types


async def accept(
    session: AsyncSession,
    *,
    storage: FileStorage,
    files: Sequence[IncomingFile],
    limits: UploadLimits,
    owner: Owner,
    created_by: str,
    folder: LibraryFolder | None,
) -> list[LibraryFile]:
    """Check, store and record an upload; every file starts `pending`.

    Raises:
        TooManyFiles, FileTooLarge, UnsupportedFileType, CorruptFile: as `check_upload`.
        OwnerMismatch: the folder belongs to another owner than the files.
    """
    types = await asyncio.to_thread(check_upload, files, limits)
    rows = []
    for incoming, file_type in zip(files, types, strict=True):
        key = await asyncio.to_thread(storage.put, incoming.data)
        rows.append(
            await library.add_file(
                session,
                owner=owner,
                created_by=created_by,
                name=incoming.name,
                file_type=file_type,
                size=len(incoming.data),
                key=key,
                folder=folder,
            )
        )
    return rows


async def remove(session: AsyncSession, *, store: VectorStore, row: LibraryFile) -> None:
    """Delete a file: its chunks from the index and its row. Its bytes stay until
    `sweep_bytes` finds no file holding them (an upload may be reusing them right now).

    Raises:
        VectorStoreUnavailable: the index cannot be reached (nothing is deleted then).
    """
    if row.status != "pending" or row.chunk_count:
        await store.delete_file(row.id)
    await library.delete_file(session, row=row)


async def sweep_bytes(
    factory: async_sessionmaker[AsyncSession], *, storage: FileStorage, grace_seconds: float
) -> int:
    """Remove stored bytes no library file holds and no upload put for `grace_seconds`."""

    async def in_use(keys: Sequence[str]) -> set[str]:
        async with factory() as session:
            return await library.keys_in_use(session, keys)

    return await sweep(storage, in_use=in_use, grace_seconds=grace_seconds)
