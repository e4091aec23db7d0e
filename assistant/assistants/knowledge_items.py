"""An assistant's knowledge: library files and folders it answers from, attached or uploaded.

An item keeps the owner of its file or folder, so a chat with the assistant retrieves from the
owner's library (restricted to the attached ids) whoever chats with it: the editor who attached a
file vouched for sharing it through the assistant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.errors import KnowledgeItemNotFound
from assistant.models import Assistant, KnowledgeItem
from knowledge import library
from knowledge.index import Owner, TenantScope
from knowledge.models import LibraryFile, LibraryFolder


@dataclass(frozen=True, kw_only=True)
class KnowledgeScope:
    """Files and folders to retrieve from, and whose library they are in."""

    user_id: str
    team_ids: tuple[str, ...]
    file_ids: tuple[str, ...] = ()
    folder_ids: tuple[str, ...] = ()


async def list_all(
    session: AsyncSession, *, assistant_id: str, uploaded: bool | None = None
) -> list[tuple[KnowledgeItem, str]]:
    """An assistant's items with the name of their file or folder, oldest first."""
    name = func.coalesce(LibraryFile.name, LibraryFolder.name, "")
    stmt = (
        select(KnowledgeItem, name)
        .outerjoin(LibraryFile, LibraryFile.id == KnowledgeItem.file_id)
        .outerjoin(LibraryFolder, LibraryFolder.id == KnowledgeItem.folder_id)
        .where(KnowledgeItem.assistant_id == assistant_id)
        .order_by(KnowledgeItem.created_at, KnowledgeItem.id)
    )
    if uploaded is not None:
        stmt = stmt.where(KnowledgeItem.uploaded.is_(uploaded))
    return [(item, str(label)) for item, label in (await session.execute(stmt)).all()]


async def attach(
    session: AsyncSession,
    *,
    assistant_id: str,
    scope: TenantScope,
    file_ids: Sequence[str] = (),
    folder_ids: Sequence[str] = (),
) -> list[KnowledgeItem]:
    """Attach files and folders the editor may see; ones already attached are kept as they are.

    Raises:
        LibraryFileNotFound: a file is unknown or not visible to the editor.
        FolderNotFound: a folder is unknown or not visible to the editor.
    """
    await library.visible_ids(session, scope=scope, file_ids=file_ids, folder_ids=folder_ids)
    existing = await session.scalars(
        select(KnowledgeItem).where(KnowledgeItem.assistant_id == assistant_id)
    )
    by_target = {(i.file_id, i.folder_id): i for i in existing}
    result: list[KnowledgeItem] = []
    targets: list[LibraryFile | LibraryFolder] = []
    for file_id in dict.fromkeys(file_ids):
        targets.append(await library.get_file(session, scope=scope, file_id=file_id))
    for folder_id in dict.fromkeys(folder_ids):
        targets.append(await library.get_folder(session, scope=scope, folder_id=folder_id))
    for target in targets:
        is_file = isinstance(target, LibraryFile)
        key = (target.id, None) if is_file else (None, target.id)
        item = by_target.get(key)
        if item is None:
            item = _item(assistant_id, target, library.owner_of(target), scope.user_id)
            session.add(item)
            by_target[key] = item
        result.append(item)
    await session.flush()
    return result


def _item(
    assistant_id: str, target: LibraryFile | LibraryFolder, owner: Owner, added_by: str
) -> KnowledgeItem:
    is_file = isinstance(target, LibraryFile)
    return KnowledgeItem(
        assistant_id=assistant_id,
        file_id=target.id if is_file else None,
        folder_id=None if is_file else target.id,
        owner_user_id=owner.user_id,
        team_id=owner.team_id,
        added_by=added_by,
        uploaded=False,
    )


async def add_uploaded(
    session: AsyncSession, *, assistant_id: str, rows: Sequence[LibraryFile], added_by: str
) -> list[KnowledgeItem]:
    """Record library files uploaded straight to the assistant."""
    items = []
    for row in rows:
        item = _item(assistant_id, row, library.owner_of(row), added_by)
        item.uploaded = True
        session.add(item)
        items.append(item)
    await session.flush()
    return items


def upload_owner(assistant: Assistant) -> Owner:
    """Who files uploaded to an assistant belong to: the assistant's owner."""
    return Owner(user_id=assistant.owner_id)


async def get(
    session: AsyncSession, *, assistant_id: str, item_id: str, uploaded: bool
) -> KnowledgeItem:
    """One item of an assistant (an uploaded file, or an attached file or folder).

    Raises:
        KnowledgeItemNotFound: the assistant has no such item of that kind.
    """
    item = await session.get(KnowledgeItem, item_id)
    if item is None or item.assistant_id != assistant_id or item.uploaded != uploaded:
        raise KnowledgeItemNotFound(item_id=item_id)
    return item


async def detach(session: AsyncSession, *, item: KnowledgeItem) -> None:
    """Stop answering from an item (the library file or folder stays)."""
    await session.delete(item)
    await session.flush()


async def scopes(session: AsyncSession, *, assistant: Assistant) -> tuple[KnowledgeScope, ...]:
    """What a chat with the assistant retrieves from, grouped by whose library it is."""
    items = await session.scalars(
        select(KnowledgeItem).where(KnowledgeItem.assistant_id == assistant.id)
    )
    groups: dict[tuple[str, tuple[str, ...]], tuple[list[str], list[str]]] = {}
    for item in items:
        teams = (item.team_id,) if item.team_id else ()
        key = (item.owner_user_id or assistant.owner_id, teams)
        files, folders = groups.setdefault(key, ([], []))
        if item.file_id:
            files.append(item.file_id)
        if item.folder_id:
            folders.append(item.folder_id)
    return tuple(
        KnowledgeScope(
            user_id=user, team_ids=teams, file_ids=tuple(files), folder_ids=tuple(folders)
        )
        for (user, teams), (files, folders) in groups.items()
    )


async def attached_ids(session: AsyncSession, *, assistant_id: str) -> tuple[list[str], list[str]]:
    """The library file ids and folder ids an assistant answers from (uploaded files included)."""
    items = await session.scalars(
        select(KnowledgeItem)
        .where(KnowledgeItem.assistant_id == assistant_id)
        .order_by(KnowledgeItem.created_at, KnowledgeItem.id)
    )
    rows = list(items)
    return [i.file_id for i in rows if i.file_id], [i.folder_id for i in rows if i.folder_id]


async def carry(
    session: AsyncSession,
    *,
    assistant_id: str,
    scope: TenantScope,
    file_ids: Sequence[str],
    folder_ids: Sequence[str],
) -> tuple[list[str], list[str]]:
    """Attach to a new assistant those of another's (or an export's) files and folders that the
    scope may see; returns the file ids and folder ids skipped because it may not."""
    files = await _visible(session, LibraryFile, scope, file_ids)
    folders = await _visible(session, LibraryFolder, scope, folder_ids)
    await attach(
        session,
        assistant_id=assistant_id,
        scope=scope,
        file_ids=[f for f in file_ids if f in files],
        folder_ids=[f for f in folder_ids if f in folders],
    )
    return (
        [f for f in dict.fromkeys(file_ids) if f not in files],
        [f for f in dict.fromkeys(folder_ids) if f not in folders],
    )


async def _visible(
    session: AsyncSession,
    model: type[LibraryFile] | type[LibraryFolder],
    scope: TenantScope,
    ids: Sequence[str],
) -> set[str]:
    if not ids:
        return set()
    stmt = select(model.id).where(model.id.in_(set(ids)), library.visible_to(model, scope))
    return set(await session.scalars(stmt))
