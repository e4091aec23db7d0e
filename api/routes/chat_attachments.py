"""Files attached to a chat: uploaded, listed, downloaded and deleted by the chat's owner."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, File, Response, UploadFile

from api import uploads
from api.deps import ChatDep, PrincipalDep, ServicesDep, SessionDep
from api.hal import (
    Collection,
    Resource,
    api_router,
    collection_of,
    resource,
    resource_of,
    whole,
)
from api.responses import BINARY
from assistant.attachments import files
from assistant.attachments.files import AttachmentStorage
from assistant.attachments.models import ChatAttachment
from assistant.attachments.schemas import AttachmentRead

router = api_router(prefix="/api/chats", tags=["Chats"], operation_prefix="chat_attachments_")


def storage_of(services: ServicesDep) -> AttachmentStorage:
    """Where the chats' attachments are stored."""
    storage = services.chat.attachments
    assert storage is not None  # the app always configures it
    return storage


async def owned_attachment(
    attachment_id: str, chat: ChatDep, session: SessionDep
) -> ChatAttachment:
    """The attachment of one of your chats (else 404 `chat_not_found`/`attachment_not_found`)."""
    return await files.get(session, chat=chat, attachment_id=attachment_id)


StorageDep = Annotated[AttachmentStorage, Depends(storage_of)]
AttachmentDep = Annotated[ChatAttachment, Depends(owned_attachment)]


def attachment_body(row: ChatAttachment) -> Resource[AttachmentRead]:
    """An attachment as a HAL resource with a link to its content."""
    href = f"/api/chats/{row.chat_id}/attachments/{row.id}"
    return resource(AttachmentRead.model_validate(row), href, content=href + "/content")


@router.post(
    "/{chat_id}/attachments",
    status_code=201,
    response_model=collection_of("attachments", AttachmentRead, "ChatAttachments"),
)
async def upload_attachments(
    chat: ChatDep,
    principal: PrincipalDep,
    session: SessionDep,
    services: ServicesDep,
    storage: StorageDep,
    files_: Annotated[list[UploadFile], File(alias="files", description="One or more files.")],
) -> Collection[Resource[AttachmentRead]]:
    """Attach files (field `files`) to your chat; send them with a message's `attachmentIds`.

    Images (PNG, JPEG, GIF, WebP) go to models that can see as image parts; other files are
    read like library uploads (PDF, DOCX, XLSX, Markdown, text, HTML, CSV, JSON) under the same
    limits: too many files or a file too large (413), a type not supported (422), a compression
    bomb (413) or an unreadable file (422) refuse the whole upload, as does one that would take
    your stored files over your storage limit (413 `storage_quota_exceeded`; see
    `GET /api/users/me/storage`). Attachments are deleted with the chat.
    """
    knowledge = services.knowledge.config
    incoming = await uploads.read_files(files_, knowledge.upload_limits)
    rows = await files.add(
        session,
        storage=storage,
        chat=chat,
        user_id=principal.user.id,
        files=incoming,
        limits=knowledge.parse_limits,
        quota=services.settings.max_storage_bytes_per_user,
    )
    await session.commit()
    return whole("attachments", f"/api/chats/{chat.id}/attachments", map(attachment_body, rows))


@router.get(
    "/{chat_id}/attachments",
    response_model=collection_of("attachments", AttachmentRead, "ChatAttachments"),
)
async def list_attachments(
    chat: ChatDep, session: SessionDep
) -> Collection[Resource[AttachmentRead]]:
    """Your chat's attachments, oldest first; `messageId` names the message that carries one."""
    rows = await files.list_for(session, chat=chat)
    return whole("attachments", f"/api/chats/{chat.id}/attachments", map(attachment_body, rows))


@router.get("/{chat_id}/attachments/{attachment_id}", response_model=resource_of(AttachmentRead))
async def get_attachment(row: AttachmentDep) -> Resource[AttachmentRead]:
    """One attachment of your chat."""
    return attachment_body(row)


@router.get(
    "/{chat_id}/attachments/{attachment_id}/content", response_class=Response, responses=BINARY
)
async def download_attachment(row: AttachmentDep, storage: StorageDep) -> Response:
    """The file as uploaded: images inline (for thumbnails), documents as a download."""
    data = await asyncio.to_thread(files.read, storage, row)
    how = "inline" if row.kind == "image" else "attachment"
    headers = {"Content-Disposition": f"{how}; filename*=UTF-8''{quote(row.name, safe='')}"}
    return Response(data, media_type=row.media_type, headers=headers)


@router.delete("/{chat_id}/attachments/{attachment_id}", status_code=204)
async def delete_attachment(row: AttachmentDep, session: SessionDep) -> Response:
    """Delete an attachment (a sent message then goes on without it). Its stored bytes are
    removed by a sweep within a day or so, unless another attachment of the chat holds them."""
    await files.delete(session, row=row)
    return Response(status_code=204)
