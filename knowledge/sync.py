"""Library sync: mirror a server-side folder into a library folder, by content hash.

New files are added, files whose bytes changed are replaced and indexed again, files gone from
the folder are deleted with their chunks. Only folders under the configured sync root are read,
and a symbolic link leading out of it is skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.database import write_transaction
from knowledge import intake, library
from knowledge.detection import detect_file_type
from knowledge.errors import FolderNotFound, InvalidJob, KnowledgeError
from knowledge.models import LibraryFile, LibraryFolder
from knowledge.storage import FileStorage
from knowledge.vector_store import VectorStore


@dataclass(frozen=True, kw_only=True)
class SourceFile:
    """A file found in the mirrored folder."""

    relative: str
    path: Path
    sha256: str
    size: int


def resolve_source(root: Path, path: str) -> Path:
    """The folder a job names, inside the sync root.

    Raises:
        InvalidJob: the path leaves the root or is not a folder.
    """
    base = root.resolve()
    folder = (base / path.lstrip("/")).resolve()
    if not folder.is_relative_to(base):
        raise InvalidJob("The sync path must stay inside the sync root.", path=path)
    if not folder.is_dir():
        raise InvalidJob("The sync path is not a folder on the server.", path=path)
    return folder


def scan(folder: Path, *, max_bytes: int) -> tuple[dict[str, SourceFile], int]:
    """The regular files under a folder by relative path, and how many were skipped as too large."""
    found: dict[str, SourceFile] = {}
    skipped = 0
    for directory, _, names in os.walk(folder):
        for name in sorted(names):
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                skipped += 1
                continue
            size = path.stat().st_size
            if size > max_bytes:
                skipped += 1
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            relative = path.relative_to(folder).as_posix()
            found[relative] = SourceFile(relative=relative, path=path, sha256=digest, size=size)
    return found, skipped


async def sync_folder(
    factory: async_sessionmaker[AsyncSession],
    *,
    store: VectorStore,
    storage: FileStorage,
    root: Path,
    path: str,
    folder_id: str,
    max_bytes: int,
    created_by: str | None = None,
) -> dict[str, int]:
    """Make the library folder hold exactly the server folder's files; returns the counts.

    New files are recorded as uploaded by `created_by` (the job's owner), who pays for
    embeddings that cost money.

    Raises:
        InvalidJob: the path leaves the sync root or is not a folder.
        FolderNotFound: the library folder is gone.
    """
    source = resolve_source(root, path)
    files, skipped = await asyncio.to_thread(scan, source, max_bytes=max_bytes)
    counts = {"added": 0, "changed": 0, "deleted": 0, "unchanged": 0, "skipped": skipped}
    async with write_transaction(factory) as session:
        folder = await session.get(LibraryFolder, folder_id)
        if folder is None:
            raise FolderNotFound(folder_id=folder_id)
        rows = await session.scalars(
            select(LibraryFile).where(
                LibraryFile.folder_id == folder_id, LibraryFile.source_path.is_not(None)
            )
        )
        mirrored = {row.source_path: row for row in rows}
        for relative, found in files.items():
            row = mirrored.pop(relative, None)
            if row is not None and row.sha256 == found.sha256:
                counts["unchanged"] += 1
                continue
            try:
                await _store(session, storage, folder, row, found, created_by)
            except KnowledgeError:
                counts["skipped"] += 1
                continue
            counts["added" if row is None else "changed"] += 1
        for row in mirrored.values():
            await intake.remove(session, store=store, storage=storage, row=row)
            counts["deleted"] += 1
    return counts


async def _store(
    session: AsyncSession,
    storage: FileStorage,
    folder: LibraryFolder,
    row: LibraryFile | None,
    found: SourceFile,
    created_by: str | None = None,
) -> None:
    data = await asyncio.to_thread(found.path.read_bytes)
    file_type = str(await asyncio.to_thread(detect_file_type, data))
    key = await asyncio.to_thread(storage.put, data)
    if row is None:
        await library.add_file(
            session,
            owner=library.owner_of(folder),
            created_by=created_by,
            name=found.path.name,
            file_type=file_type,
            size=len(data),
            key=key,
            folder=folder,
            source_path=found.relative,
        )
        return
    row.sha256 = row.storage_key = key
    row.size, row.file_type = len(data), file_type
    library.mark_pending(row)
