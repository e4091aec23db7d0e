"""Chat folders: each user's own folders to file chats in."""

from __future__ import annotations

from fastapi import Response

from api.deps import ChatFolderDep, CurrentUser, SessionDep
from api.hal import Collection, Resource, api_router, collection_of, resource, resource_of, whole
from assistant.chat import folders as chat_folders
from assistant.models import ChatFolder
from assistant.schemas import ChatFolderRead, ChatFolderWrite

router = api_router(prefix="/api/chat-folders", tags=["Chats"], operation_prefix="chat_")


def folder_body(folder: ChatFolder) -> Resource[ChatFolderRead]:
    """A chat folder as a HAL resource, linking to its chats."""
    return resource(
        ChatFolderRead.model_validate(folder),
        f"/api/chat-folders/{folder.id}",
        chats=f"/api/chats?folderId={folder.id}",
    )


@router.get("", response_model=collection_of("chatFolders", ChatFolderRead))
async def list_folders(
    user: CurrentUser, session: SessionDep
) -> Collection[Resource[ChatFolderRead]]:
    """Your chat folders, by name. File a chat with `PATCH /api/chats/{id}` `{folderId}` and
    list a folder's chats with `GET /api/chats?folderId=`."""
    folders = await chat_folders.list_owned(session, user_id=user.id)
    return whole("chatFolders", "/api/chat-folders", (folder_body(f) for f in folders))


@router.post("", status_code=201, response_model=resource_of(ChatFolderRead))
async def create_folder(
    body: ChatFolderWrite, user: CurrentUser, session: SessionDep
) -> Resource[ChatFolderRead]:
    """Make a chat folder; names are unique per user (409 `chat_folder_name_taken`)."""
    return folder_body(await chat_folders.create(session, user_id=user.id, name=body.name))


@router.get("/{folder_id}", response_model=resource_of(ChatFolderRead))
async def get_folder(folder: ChatFolderDep) -> Resource[ChatFolderRead]:
    """One of your chat folders."""
    return folder_body(folder)


@router.patch("/{folder_id}", response_model=resource_of(ChatFolderRead))
async def rename_folder(
    folder: ChatFolderDep, body: ChatFolderWrite, session: SessionDep
) -> Resource[ChatFolderRead]:
    """Rename a chat folder."""
    return folder_body(await chat_folders.rename(session, folder=folder, name=body.name))


@router.delete("/{folder_id}", status_code=204)
async def delete_folder(folder: ChatFolderDep, session: SessionDep) -> Response:
    """Delete a chat folder; its chats are kept, in no folder."""
    await chat_folders.delete(session, folder=folder)
    return Response(status_code=204)
