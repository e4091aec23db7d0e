"""The library: folders and files, uploaded and indexed for search and chat (Informer's Library)."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, File, Form, Query, Response, UploadFile

from api import uploads
from api.deps import PageDep, Principal, PrincipalDep, ServicesDep, SessionDep
from api.hal import (
    Collection,
    Resource,
    api_router,
    collection,
    collection_of,
    resource,
    resource_of,
)
from api.responses import BINARY
from core.listing import Page
from knowledge import intake, library
from knowledge.index import SearchHit, TenantScope
from knowledge.models import LibraryFile, LibraryFolder
from knowledge.schemas import (
    ChunkRead,
    FileRead,
    FileStatus,
    FileUpdate,
    FolderCreate,
    FolderRead,
    FolderUpdate,
)

router = api_router(prefix="/api/library", tags=["Library"], operation_prefix="library_")
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "markdown": "text/markdown; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
IdQuery = Annotated[str | None, Query(alias="folderId", max_length=26)]


def scope_of(principal: Principal) -> TenantScope:
    """Whose library objects the caller may see."""
    return TenantScope(principal.user.id, principal.team_ids)


async def visible_folder(
    folder_id: str, principal: PrincipalDep, session: SessionDep
) -> LibraryFolder:
    """The folder named by `folder_id`, if it is the caller's or one of their teams' (else 404
    `folder_not_found`); whoever may see a folder may also change it."""
    return await library.get_folder(session, scope=scope_of(principal), folder_id=folder_id)


async def visible_file(file_id: str, principal: PrincipalDep, session: SessionDep) -> LibraryFile:
    """The file named by `file_id`, if it is the caller's or one of their teams' (else 404
    `file_not_found`); whoever may see a file may also change it."""
    return await library.get_file(session, scope=scope_of(principal), file_id=file_id)


async def available_store(services: ServicesDep) -> None:
    """Refuse with 503 `vector_store_unavailable` while the vector store cannot be used."""
    services.knowledge.store.check_available()


VisibleFolderDep = Annotated[LibraryFolder, Depends(visible_folder)]
VisibleFileDep = Annotated[LibraryFile, Depends(visible_file)]
AvailableStoreDep = Annotated[None, Depends(available_store)]


def folder_body(folder: LibraryFolder) -> Resource[FolderRead]:
    """A folder as a HAL resource."""
    href = f"/api/library/folders/{folder.id}"
    files = f"/api/library/files?folderId={folder.id}"
    return resource(FolderRead.model_validate(folder), href, files=files)


def file_body(row: LibraryFile) -> Resource[FileRead]:
    """A file as a HAL resource with links to its content and chunks."""
    href = f"/api/library/files/{row.id}"
    links = {"content": href + "/content", "chunks": href + "/chunks"}
    if row.folder_id:
        links["folder"] = f"/api/library/folders/{row.folder_id}"
    return resource(FileRead.model_validate(row), href, **links)


@router.get("/folders", response_model=collection_of("folders", FolderRead))
async def list_folders(
    principal: PrincipalDep, session: SessionDep, page: PageDep
) -> Collection[Resource[FolderRead]]:
    """The folders you may see (yours and your teams'); `q` searches names."""
    result = await library.list_folders(session, scope=scope_of(principal), page=page)
    params = {"q": page.q, "sort": page.sort}
    return collection("folders", "/api/library/folders", result, folder_body, params)


@router.post("/folders", status_code=201, response_model=resource_of(FolderRead))
async def create_folder(
    body: FolderCreate, principal: PrincipalDep, session: SessionDep
) -> Resource[FolderRead]:
    """Add a folder of yours, or of a team you belong to (`teamId`)."""
    folder = await library.create_folder(session, scope=scope_of(principal), data=body)
    return folder_body(folder)


@router.get("/folders/{folder_id}", response_model=resource_of(FolderRead))
async def get_folder(folder: VisibleFolderDep) -> Resource[FolderRead]:
    """One folder."""
    return folder_body(folder)


@router.patch("/folders/{folder_id}", response_model=resource_of(FolderRead))
async def update_folder(
    folder: VisibleFolderDep, body: FolderUpdate, session: SessionDep
) -> Resource[FolderRead]:
    """Rename or describe a folder."""
    return folder_body(await library.update_folder(session, folder=folder, data=body))


@router.delete("/folders/{folder_id}", status_code=204)
async def delete_folder(folder: VisibleFolderDep, session: SessionDep) -> Response:
    """Delete an empty folder (409 `folder_not_empty` while it holds files)."""
    await library.delete_folder(session, folder=folder)
    return Response(status_code=204)


@router.get("/files", response_model=collection_of("files", FileRead, "LibraryFiles"))
async def list_files(
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    folder_id: IdQuery = None,
    type: Annotated[str | None, Query(max_length=20)] = None,
    status: FileStatus | None = None,
) -> Collection[Resource[FileRead]]:
    """The files you may see, filtered by `folderId`, `type` and `status`; `q` searches names."""
    result = await library.list_files(
        session,
        scope=scope_of(principal),
        page=page,
        folder_id=folder_id,
        file_type=type,
        status=status,
    )
    params = {"q": page.q, "sort": page.sort, "folderId": folder_id, "type": type, "status": status}
    return collection("files", "/api/library/files", result, file_body, params)


@router.post(
    "/files", status_code=201, response_model=collection_of("files", FileRead, "LibraryFiles")
)
async def upload_files(
    principal: PrincipalDep,
    session: SessionDep,
    services: ServicesDep,
    files: Annotated[list[UploadFile], File(description="One or more files.")],
    folder_id: Annotated[str | None, Form(alias="folderId", max_length=26)] = None,
    team_id: Annotated[str | None, Form(alias="teamId", max_length=26)] = None,
) -> Collection[Resource[FileRead]]:
    """Upload files (field `files`, several at once) into a folder (`folderId`), owned by you or
    by a team you belong to (`teamId`; by default a team folder's team).

    The type is decided by the content. Each file starts `pending` and is indexed in the
    background; follow `status` and `progress`. A file over the size limit, too many files
    or an unsupported type refuse the whole upload, as does one that would take your stored
    files over your storage limit (413 `storage_quota_exceeded`; see `GET /api/users/me/storage`);
    a file that cannot be read (corrupt, a compression bomb, too many pages) ends `failed` with
    the reason in `error`.
    """
    knowledge = services.knowledge
    knowledge.store.check_available()
    scope = scope_of(principal)
    folder = None
    if folder_id:
        folder = await library.get_folder(session, scope=scope, folder_id=folder_id)
    owner = library.resolve_owner(scope, team_id)
    if folder is not None and team_id is None:
        owner = library.owner_of(folder)
    rows = await uploads.store_upload(
        session,
        knowledge,
        files,
        owner=owner,
        created_by=principal.user.id,
        folder=folder,
        quota=services.settings.max_storage_bytes_per_user,
    )
    await session.commit()
    knowledge.worker.wake()
    page = Page(items=rows, total=len(rows), start=0, limit=max(1, len(rows)))
    return collection("files", "/api/library/files", page, file_body)


@router.get("/files/{file_id}", response_model=resource_of(FileRead))
async def get_file(row: VisibleFileDep) -> Resource[FileRead]:
    """One file, with its indexing `status`, `progress` (0–1) and `error` if it failed."""
    return file_body(row)


@router.patch("/files/{file_id}", response_model=resource_of(FileRead))
async def update_file(
    row: VisibleFileDep,
    body: FileUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    services: ServicesDep,
) -> Resource[FileRead]:
    """Rename a file or move it to another folder of the same owner (it is indexed again)."""
    row = await library.update_file(session, scope=scope_of(principal), row=row, data=body)
    await session.commit()
    services.knowledge.worker.wake()
    return file_body(row)


@router.delete("/files/{file_id}", status_code=204)
async def delete_file(row: VisibleFileDep, session: SessionDep, services: ServicesDep) -> Response:
    """Delete a file and its chunks in the index. Its stored content is removed by a sweep
    within a day or so, unless another file holds the same content."""
    knowledge = services.knowledge
    await intake.remove(session, store=knowledge.store, row=row)
    return Response(status_code=204)


@router.get("/files/{file_id}/content", response_class=Response, responses=BINARY)
async def download_file(row: VisibleFileDep, services: ServicesDep) -> Response:
    """The file as uploaded, as an attachment (never rendered inline)."""
    data = await asyncio.to_thread(services.knowledge.storage.read, row.storage_key)
    disposition = f"attachment; filename*=UTF-8''{quote(row.name, safe='')}"
    headers = {"Content-Disposition": disposition}  # nosniff: on every response (middleware)
    media = MEDIA_TYPES.get(row.file_type, "application/octet-stream")
    return Response(content=data, media_type=media, headers=headers)


def chunk_body(file_id: str, hit: SearchHit) -> Resource[ChunkRead]:
    """A stored chunk as a HAL resource."""
    read = ChunkRead(
        index=hit.chunk_index,
        text=hit.text,
        page=hit.page,
        section=list(hit.section),
        start=hit.start,
        end=hit.end,
    )
    return resource(read, f"/api/library/files/{file_id}/chunks?start={hit.chunk_index}&limit=1")


@router.get("/files/{file_id}/chunks", response_model=collection_of("chunks", ChunkRead))
async def list_chunks(
    row: VisibleFileDep, services: ServicesDep, page: PageDep
) -> Collection[Resource[ChunkRead]]:
    """The file's chunks as indexed, in order, with their pages, sections and offsets."""
    hits = await services.knowledge.store.chunks(
        row.id, version=row.live_version, limit=page.limit, offset=page.start
    )
    total = row.chunk_count if row.status == "indexed" else len(hits) + page.start
    result = Page(items=hits, total=total, start=page.start, limit=page.limit)
    href = f"/api/library/files/{row.id}/chunks"
    return collection("chunks", href, result, lambda hit: chunk_body(row.id, hit))


@router.post("/files/{file_id}/_reindex", status_code=202, response_model=resource_of(FileRead))
async def reindex_file(
    _principal: PrincipalDep,
    _store: AvailableStoreDep,  # before the file: a 503 here wins over a 404, as before
    row: VisibleFileDep,
    session: SessionDep,
    services: ServicesDep,
) -> Resource[FileRead]:
    """Index the file again (it goes back to `pending`)."""
    library.mark_pending(row)
    await session.commit()
    services.knowledge.worker.wake()
    return file_body(row)
