"""Library sync: mirror a server-side folder into a library folder, by content hash.

New files are added, files whose bytes changed are replaced and indexed again, files gone from
the folder are deleted with their chunks. Only folders under the configured sync root are read,
and a symbolic link leading out of it is skipped.

The files count toward a storage quota as an upload to the folder would (the folder owner's, or
for a team's folder the job owner's), when the app hands a `Quota` in: files gone from the folder
are deleted first, so their quota is free, then new and changed files are taken in path order
while they fit, under the quota's lock until the commit; one that does not fit is left out whole
(its bytes are not stored, a changed file keeps its previous version) and named in the result.
Bytes no file holds any more (deleted files', replaced versions') stay on disk until a later
sweep (`intake.sweep_bytes`), so a sync that fails and rolls back leaves every restored row its
bytes, and an upload of the same content meanwhile keeps them. The bytes the sync stores are its
rows' only once it commits: until then a sweep keeps them because they are young, so a sync that
runs long refreshes their time every REFRESH_SECONDS (well inside the sweep's shortest grace
period, an hour), and fails rather than commit a row whose bytes a sweep took.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.database import write_transaction
from knowledge import intake, library
from knowledge.detection import detect_file_type
from knowledge.errors import FolderNotFound, InvalidJob, KnowledgeError
from knowledge.models import LibraryFile, LibraryFolder
from knowledge.storage import FileStorage, StoredFileMissing, content_key
from knowledge.vector_store import VectorStore

REFRESH_SECONDS = 600.0


class Allowance(Protocol):
    """What a user may still store in the sync's transaction (`assistant.storage_quota`)."""

    @property
    def limit_bytes(self) -> int | None:
        """Their limit (None: no limit)."""
        ...

    @property
    def used_bytes(self) -> int:
        """What their files take, with those taken so far."""
        ...

    async def take(
        self, key: str, size: int, *, replacing: tuple[str, str, int] | None = None
    ) -> bool:
        """Count a content if it fits (one the user stores already is free); `replacing` is the
        changed file's (id, key, size), whose bytes are freed unless another file holds them."""
        ...


class Quota(Protocol):
    """Opens a user's allowance for files of these contents, holding their quota lock until
    the transaction ends."""

    async def __call__(
        self, session: AsyncSession, *, user_id: str, keys: Collection[str]
    ) -> Allowance: ...


@dataclass(kw_only=True)
class SyncResult:
    """What a sync did, and the files left out because they did not fit the storage quota."""

    counts: dict[str, int]
    over_quota: list[SourceFile] = field(default_factory=list)
    charged_to: str | None = None  # whose quota the files count toward
    limit_bytes: int | None = None
    used_bytes: int = 0


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
            digest = content_key(path.read_bytes())
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
    quota: Quota | None = None,
) -> SyncResult:
    """Make the library folder hold the server folder's files, those that fit the storage
    `quota` (see the module's text); returns the counts and the files left out.

    New files are recorded as uploaded by `created_by` (the job's owner), who pays for
    embeddings that cost money.

    Raises:
        InvalidJob: the path leaves the sync root or is not a folder.
        FolderNotFound: the library folder is gone.
    """
    source = resolve_source(root, path)
    files, skipped = await asyncio.to_thread(scan, source, max_bytes=max_bytes)
    counts = {"added": 0, "changed": 0, "deleted": 0, "unchanged": 0, "skipped": skipped}
    result = SyncResult(counts=counts)
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
        gone = [old for relative, old in mirrored.items() if relative not in files]
        for old in gone:  # first, so their quota is free for the files that come
            await intake.remove(session, store=store, row=old)
            counts["deleted"] += 1
        wanted = {
            relative: found
            for relative, found in sorted(files.items())
            if relative not in mirrored or mirrored[relative].sha256 != found.sha256
        }
        counts["unchanged"] = len(files) - len(wanted)
        allowance = None
        result.charged_to = library.owner_of(folder).user_id or created_by
        if quota is not None and result.charged_to is not None and wanted:
            keys = {found.sha256 for found in wanted.values()}
            allowance = await quota(session, user_id=result.charged_to, keys=keys)
        stored: list[str] = []  # their bytes' keys, kept young while the sync runs
        refreshed = time.monotonic()
        for relative, found in wanted.items():
            row = mirrored.get(relative)
            replacing = (row.id, row.storage_key, row.size) if row is not None else None
            if allowance is not None and not await allowance.take(
                found.sha256, found.size, replacing=replacing
            ):
                result.over_quota.append(found)
                continue
            try:
                stored.append(await _store(session, storage, folder, row, found, created_by))
            except (KnowledgeError, OSError):  # unreadable, or changed since the scan
                counts["skipped"] += 1
                continue
            counts["added" if row is None else "changed"] += 1
            if time.monotonic() - refreshed >= REFRESH_SECONDS:
                await _keep_young(storage, stored)
                refreshed = time.monotonic()
        counts["overQuota"] = len(result.over_quota)
        if allowance is not None:
            result.limit_bytes, result.used_bytes = allowance.limit_bytes, allowance.used_bytes
    # Bytes no file holds any more stay for `intake.sweep_bytes`: a rolled-back sync finds those
    # of the rows it restores, and an upload reusing them keeps them.
    return result


async def _keep_young(storage: FileStorage, keys: list[str]) -> None:
    """Refresh the time of the bytes the sync stored so far.

    Raises:
        StoredFileMissing: a sweep took some (the sync ran past its grace period unrefreshed).
    """
    try:
        await asyncio.to_thread(storage.touch, keys)
    except StoredFileMissing as exc:
        raise StoredFileMissing(
            "A file this sync stored was removed before the sync could finish; nothing was "
            "changed: run the job again.",
            **exc.details,
        ) from None


async def _store(
    session: AsyncSession,
    storage: FileStorage,
    folder: LibraryFolder,
    row: LibraryFile | None,
    found: SourceFile,
    created_by: str | None = None,
) -> str:
    """Store a found file's bytes and add or change its row; the bytes' key."""
    data = await asyncio.to_thread(found.path.read_bytes)
    if await asyncio.to_thread(content_key, data) != found.sha256:  # changed since the scan
        raise KnowledgeError("The file changed while the folder was read.")
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
        return key
    row.sha256 = row.storage_key = key
    row.size, row.file_type = len(data), file_type
    library.mark_pending(row)
    return key
