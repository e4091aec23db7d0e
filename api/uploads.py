"""Multipart uploads read into memory one file at a time, refused as soon as one breaks a limit,
then stored as library files (`store_upload`, for the library and an assistant's files alike)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from assistant import storage_quota
from knowledge import intake
from knowledge.errors import FileTooLarge, TooManyFiles
from knowledge.index import Owner
from knowledge.intake import IncomingFile, UploadLimits
from knowledge.models import LibraryFile, LibraryFolder
from knowledge.runtime import Knowledge
from knowledge.storage import sizes_by_key


async def store_upload(
    session: AsyncSession,
    knowledge: Knowledge,
    files: Sequence[UploadFile],
    *,
    owner: Owner,
    created_by: str,
    folder: LibraryFolder | None,
    quota: int,
) -> list[LibraryFile]:
    """Read an upload within the library's limits and store it as `pending` library files, if
    it fits the storage `quota` (bytes) of the user whose library gets them, else (a team's) of
    the uploader; their quota lock is held until the session's transaction ends.

    Raises:
        TooManyFiles, FileTooLarge: the upload breaks a limit (see `read_files`).
        StorageQuotaExceeded: the files would take that user over `quota` (none is stored).
        KnowledgeError: what `knowledge.intake.accept` refuses (type, folder owner).
    """
    limits = knowledge.config.upload_limits
    incoming = await read_files(files, limits)
    sizes = await sizes_by_key([item.data for item in incoming])
    whose = owner.user_id or created_by
    await storage_quota.admit(
        session,
        user_id=whose,
        files=storage_quota.NewFiles(sizes=sizes),
        default_limit=quota,
        uploader_id=created_by,
    )
    return await intake.accept(
        session,
        storage=knowledge.storage,
        files=incoming,
        limits=limits,
        owner=owner,
        created_by=created_by,
        folder=folder,
    )


async def read_files(files: Sequence[UploadFile], limits: UploadLimits) -> list[IncomingFile]:
    """The uploaded files' names and bytes; the count and each size are checked before reading.

    Raises:
        TooManyFiles: more files than one upload may carry (none is read).
        FileTooLarge: a file is over the size limit (the files after it are not read).
    """
    if len(files) > limits.max_files:
        raise TooManyFiles(files=len(files), limit=limits.max_files)
    incoming = []
    for upload in files:
        name = upload.filename or "unnamed"
        data = b""
        if upload.size is None or upload.size <= limits.max_bytes:
            data = await upload.read(limits.max_bytes + 1)
        size = max(len(data), upload.size or 0)
        if size > limits.max_bytes:
            raise FileTooLarge(name=name, size=size, limit=limits.max_bytes)
        incoming.append(IncomingFile(name, data))
    return incoming
