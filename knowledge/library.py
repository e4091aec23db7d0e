"""Library folders and files: who owns them, who may see them, and their lifecycle in the database.

A folder or file belongs to one user or one team. A user sees their own and their teams' objects;
anything else is reported as not found. These services only touch the database: the indexing
worker and the vector store do the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import TeamNotFound
from core.listing import Page, PageRequest, paginate
from knowledge.errors import (
    FolderNotEmpty,
    FolderNotFound,
    LibraryFileNotFound,
    OwnerMismatch,
)
from knowledge.index import Owner, TenantScope
from knowledge.models import LibraryFile, LibraryFolder
from knowledge.schemas import FileUpdate, FolderCreate, FolderUpdate

# Control characters and lone surrogates in an uploaded name: no database stores all of them.
_UNSTORABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
MAX_NAME_CHARS = 500

Owned = type[LibraryFile] | type[LibraryFolder]


def visible_to(model: Owned, scope: TenantScope) -> ColumnElement[bool]:
    """The rows of `model` the scope may see: the user's own and their teams'."""
    clauses = [model.owner_user_id == scope.user_id]
    if scope.team_ids:
        clauses.append(model.team_id.in_(scope.team_ids))
    return or_(*clauses)


def owner_of(row: LibraryFile | LibraryFolder) -> Owner:
    """Who a folder or file belongs to."""
    if row.team_id:
        return Owner(team_id=row.team_id)
    return Owner(user_id=row.owner_user_id)


def resolve_owner(scope: TenantScope, team_id: str | None) -> Owner:
    """The owner a new object gets: a team the caller belongs to, or the caller.

    Raises:
        TeamNotFound: the caller does not belong to that team.
    """
    if team_id is None:
        return Owner(user_id=scope.user_id)
    if team_id not in scope.team_ids:
        raise TeamNotFound(team_id=team_id)
    return Owner(team_id=team_id)


async def create_folder(
    session: AsyncSession, *, scope: TenantScope, data: FolderCreate
) -> LibraryFolder:
    """A new folder of the caller's, or of one of their teams."""
    owner = resolve_owner(scope, data.team_id)
    folder = LibraryFolder(
        name=data.name,
        description=data.description,
        owner_user_id=owner.user_id,
        team_id=owner.team_id,
        created_by=scope.user_id,
    )
    session.add(folder)
    await session.flush()
    return folder


async def get_folder(session: AsyncSession, *, scope: TenantScope, folder_id: str) -> LibraryFolder:
    """A folder the caller may see.

    Raises:
        FolderNotFound: no such folder, or it is someone else's.
    """
    folder = await session.scalar(
        select(LibraryFolder).where(LibraryFolder.id == folder_id, visible_to(LibraryFolder, scope))
    )
    if folder is None:
        raise FolderNotFound(folder_id=folder_id)
    return folder


async def list_folders(
    session: AsyncSession, *, scope: TenantScope, page: PageRequest
) -> Page[LibraryFolder]:
    """The folders the caller may see, searchable by name."""
    return await paginate(
        session,
        select(LibraryFolder).where(visible_to(LibraryFolder, scope)),
        page,
        sortable={"createdAt": LibraryFolder.created_at, "name": LibraryFolder.name},
        searchable=(LibraryFolder.name,),
        default_sort="name",
    )


async def update_folder(
    session: AsyncSession, *, folder: LibraryFolder, data: FolderUpdate
) -> LibraryFolder:
    """Rename or describe a folder."""
    if data.name is not None:
        folder.name = data.name
    if data.description is not None:
        folder.description = data.description
    await session.flush()
    return folder


async def delete_folder(session: AsyncSession, *, folder: LibraryFolder) -> None:
    """Remove an empty folder.

    Raises:
        FolderNotEmpty: files are still in it.
    """
    held = await session.scalar(
        select(func.count()).select_from(LibraryFile).where(LibraryFile.folder_id == folder.id)
    )
    if held:
        raise FolderNotEmpty(folder_id=folder.id, files=int(held))
    await session.delete(folder)
    await session.flush()


def file_name(name: str) -> str:
    """A file's name as it can be stored: no control characters, at most 500 characters."""
    cleaned = _UNSTORABLE.sub("", name).strip()[:MAX_NAME_CHARS]
    return cleaned or "unnamed"


async def add_file(
    session: AsyncSession,
    *,
    owner: Owner,
    created_by: str | None,
    name: str,
    file_type: str,
    size: int,
    key: str,
    folder: LibraryFolder | None,
    source_path: str | None = None,
) -> LibraryFile:
    """Record a stored file as `pending`, for the indexing worker to pick up.

    Raises:
        OwnerMismatch: the folder belongs to another user or team than the file.
    """
    if folder is not None and owner_of(folder) != owner:
        raise OwnerMismatch(folder_id=folder.id)
    row = LibraryFile(
        name=file_name(name),
        owner_user_id=owner.user_id,
        team_id=owner.team_id,
        folder_id=folder.id if folder is not None else None,
        created_by=created_by,
        file_type=file_type,
        size=size,
        sha256=key,
        storage_key=key,
        status="pending",
        source_path=source_path,
    )
    session.add(row)
    await session.flush()
    return row


async def get_file(session: AsyncSession, *, scope: TenantScope, file_id: str) -> LibraryFile:
    """A file the caller may see.

    Raises:
        LibraryFileNotFound: no such file, or it is someone else's.
    """
    row = await session.scalar(
        select(LibraryFile).where(LibraryFile.id == file_id, visible_to(LibraryFile, scope))
    )
    if row is None:
        raise LibraryFileNotFound(file_id=file_id)
    return row


async def list_files(
    session: AsyncSession,
    *,
    scope: TenantScope,
    page: PageRequest,
    folder_id: str | None = None,
    file_type: str | None = None,
    status: str | None = None,
) -> Page[LibraryFile]:
    """The files the caller may see, filtered by folder, type and status; `q` searches names."""
    stmt = select(LibraryFile).where(visible_to(LibraryFile, scope))
    filters: dict[str, Any] = {"folder_id": folder_id, "file_type": file_type, "status": status}
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(LibraryFile, column) == value)
    return await paginate(
        session,
        stmt,
        page,
        sortable={
            "createdAt": LibraryFile.created_at,
            "name": LibraryFile.name,
            "size": LibraryFile.size,
            "status": LibraryFile.status,
        },
        searchable=(LibraryFile.name,),
    )


async def update_file(
    session: AsyncSession, *, scope: TenantScope, row: LibraryFile, data: FileUpdate
) -> LibraryFile:
    """Rename or move a file; a moved or renamed file is indexed again (its chunks carry both).

    Raises:
        FolderNotFound: the target folder is not visible.
        OwnerMismatch: the target folder belongs to another owner.
    """
    changed = False
    if data.name is not None and data.name != row.name:
        row.name, changed = data.name, True
    if "folder_id" in data.model_fields_set and data.folder_id != row.folder_id:
        if data.folder_id is not None:
            folder = await get_folder(session, scope=scope, folder_id=data.folder_id)
            if owner_of(folder) != owner_of(row):
                raise OwnerMismatch(folder_id=folder.id)
        row.folder_id, changed = data.folder_id, True
    if changed:
        mark_pending(row)
    await session.flush()
    return row


def mark_pending(row: LibraryFile) -> None:
    """Queue a file for (re)indexing; a worker holding it finds its claim gone and lets go."""
    row.status = "pending"
    row.progress = 0.0
    row.chunks_indexed = 0
    row.error = row.error_code = None
    row.lease_owner = row.lease_until = None
    row.updated_at = clock.now()


async def delete_file(session: AsyncSession, *, row: LibraryFile) -> None:
    """Remove a file's row (its bytes stay for `intake.sweep_bytes`)."""
    await session.delete(row)
    await session.flush()


async def keys_in_use(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """Which of these stored bytes a file uses: by sha256, which is the storage key (bytes are
    stored by content) and indexed, where storage_key is not."""
    query = select(LibraryFile.sha256).where(LibraryFile.sha256.in_(keys)).distinct()
    return set((await session.scalars(query)).all())


async def visible_ids(
    session: AsyncSession,
    *,
    scope: TenantScope,
    file_ids: Sequence[str] = (),
    folder_ids: Sequence[str] = (),
) -> None:
    """Check every id names a file or folder the caller may see.

    Raises:
        LibraryFileNotFound: a file id is unknown or someone else's.
        FolderNotFound: a folder id is unknown or someone else's.
    """
    for model, ids, error in (
        (LibraryFile, set(file_ids), LibraryFileNotFound),
        (LibraryFolder, set(folder_ids), FolderNotFound),
    ):
        if not ids:
            continue
        found = set(
            await session.scalars(
                select(model.id).where(model.id.in_(ids), visible_to(model, scope))
            )
        )
        missing = sorted(ids - found)
        if missing:
            raise error(ids=missing)


def read_live_versions(connection: Connection, file_ids: Sequence[str]) -> dict[str, str | None]:
    """The live version of each of these files that still exists (`knowledge.indexing`): read
    at every search, through `core.database.run_read` (one hop, no ORM session)."""
    query = select(LibraryFile.id, LibraryFile.live_version).where(LibraryFile.id.in_(file_ids))
    return {file_id: version for file_id, version in connection.execute(query).all()}


async def requeue_all(session: AsyncSession) -> int:
    """Queue every file for indexing again (after the embedding model changed)."""
    result = await session.execute(
        update(LibraryFile)
        .where(LibraryFile.status != "pending")
        .values(
            status="pending", progress=0.0, chunks_indexed=0, lease_owner=None, lease_until=None
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
