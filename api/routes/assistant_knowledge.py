"""An assistant's knowledge: library files and folders attached to it, and files uploaded to it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, File, Response, UploadFile

from api import uploads
from api.deps import EditablePublishedDep, PrincipalDep, ServicesDep, SessionDep, UsablePublishedDep
from api.hal import Collection, Resource, api_router, collection_of, resource, whole
from assistant.assistants import knowledge_items
from assistant.models import Assistant, KnowledgeItem
from assistant.schemas import KnowledgeAttach, KnowledgeItemRead
from knowledge import intake
from knowledge.index import TenantScope
from knowledge.models import LibraryFile

router = api_router(
    prefix="/api/assistants/{assistant_id}",
    tags=["Assistant knowledge"],
    operation_prefix="assistant_",
)


async def attached_item(
    item_id: str, assistant: EditablePublishedDep, session: SessionDep
) -> KnowledgeItem:
    """The library file or folder `item_id` attached to an assistant the caller may edit (404
    `assistant_knowledge_not_found` for an item of another assistant or an uploaded file)."""
    return await knowledge_items.get(
        session, assistant_id=assistant.id, item_id=item_id, uploaded=False
    )


async def uploaded_item(
    item_id: str, assistant: EditablePublishedDep, session: SessionDep
) -> KnowledgeItem:
    """The file `item_id` uploaded to an assistant the caller may edit (404
    `assistant_knowledge_not_found` for an item of another assistant or an attached one)."""
    return await knowledge_items.get(
        session, assistant_id=assistant.id, item_id=item_id, uploaded=True
    )


AttachedItemDep = Annotated[KnowledgeItem, Depends(attached_item)]
UploadedItemDep = Annotated[KnowledgeItem, Depends(uploaded_item)]


def item_body(item: KnowledgeItem, name: str) -> Resource[KnowledgeItemRead]:
    """A knowledge item as a HAL resource, linked to its library file or folder."""
    kind = "files" if item.uploaded else "knowledge"
    href = f"/api/assistants/{item.assistant_id}/{kind}/{item.id}"
    fields = {f: name if f == "name" else getattr(item, f) for f in KnowledgeItemRead.model_fields}
    read = KnowledgeItemRead.model_validate(fields)
    links = {}
    if item.file_id:
        links["file"] = f"/api/library/files/{item.file_id}"
    if item.folder_id:
        links["folder"] = f"/api/library/folders/{item.folder_id}"
    return resource(read, href, **links)


async def _listing(
    session: SessionDep, assistant: Assistant, uploaded: bool
) -> Collection[Resource[KnowledgeItemRead]]:
    rows = await knowledge_items.list_all(session, assistant_id=assistant.id, uploaded=uploaded)
    kind = "files" if uploaded else "knowledge"
    href = f"/api/assistants/{assistant.id}/{kind}"
    return whole(kind, href, (item_body(item, name) for item, name in rows))


@router.get("/knowledge", response_model=collection_of("knowledge", KnowledgeItemRead))
async def list_knowledge(
    assistant: UsablePublishedDep, session: SessionDep
) -> Collection[Resource[KnowledgeItemRead]]:
    """The library files and folders attached to an assistant; its answers retrieve from them."""
    return await _listing(session, assistant, uploaded=False)


@router.post(
    "/knowledge", status_code=201, response_model=collection_of("knowledge", KnowledgeItemRead)
)
async def attach_knowledge(
    assistant: EditablePublishedDep,
    body: KnowledgeAttach,
    principal: PrincipalDep,
    session: SessionDep,
) -> Collection[Resource[KnowledgeItemRead]]:
    """Attach library files (`fileIds`) and folders (`folderIds`) you may see (needs edit
    permission). Everyone who may use the assistant then gets answers grounded in them, with
    citations; an id you may not see is 404 and nothing is attached."""
    await knowledge_items.attach(
        session,
        assistant_id=assistant.id,
        scope=TenantScope(principal.user.id, principal.team_ids),
        file_ids=body.file_ids,
        folder_ids=body.folder_ids,
    )
    return await _listing(session, assistant, uploaded=False)


@router.delete("/knowledge/{item_id}", status_code=204)
async def detach_knowledge(item: AttachedItemDep, session: SessionDep) -> Response:
    """Detach a file or folder (it stays in the library)."""
    await knowledge_items.detach(session, item=item)
    return Response(status_code=204)


@router.get("/files", response_model=collection_of("files", KnowledgeItemRead))
async def list_files(
    assistant: UsablePublishedDep, session: SessionDep
) -> Collection[Resource[KnowledgeItemRead]]:
    """Files uploaded straight to an assistant, with their library file links (for status)."""
    return await _listing(session, assistant, uploaded=True)


@router.post("/files", status_code=201, response_model=collection_of("files", KnowledgeItemRead))
async def upload_files(
    assistant: EditablePublishedDep,
    principal: PrincipalDep,
    session: SessionDep,
    services: ServicesDep,
    files: Annotated[list[UploadFile], File(description="One or more files.")],
) -> Collection[Resource[KnowledgeItemRead]]:
    """Upload files to an assistant (needs edit permission). They are stored as library files of
    the assistant's owner and indexed like any library file; follow `status` on the linked file.
    Limits and accepted types are the library's; the files count toward your storage limit
    (413 `storage_quota_exceeded`)."""
    knowledge = services.knowledge
    knowledge.store.check_available()
    owner = knowledge_items.upload_owner(assistant)
    rows = await uploads.store_upload(
        session,
        knowledge,
        files,
        owner=owner,
        created_by=principal.user.id,
        folder=None,
        quota=services.settings.max_storage_bytes_per_user,
    )
    items = await knowledge_items.add_uploaded(
        session, assistant_id=assistant.id, rows=rows, added_by=principal.user.id
    )
    await session.commit()
    knowledge.worker.wake()
    href = f"/api/assistants/{assistant.id}/files"
    return whole("files", href, (item_body(i, r.name) for i, r in zip(items, rows, strict=True)))


@router.delete("/files/{item_id}", status_code=204)
async def delete_file(
    item: UploadedItemDep, session: SessionDep, services: ServicesDep
) -> Response:
    """Delete a file uploaded to the assistant: from the assistant, the library and the index."""
    row = await session.get(LibraryFile, item.file_id) if item.file_id else None
    await knowledge_items.detach(session, item=item)
    if row is not None:
        knowledge = services.knowledge
        await intake.remove(session, store=knowledge.store, row=row)
    return Response(status_code=204)
