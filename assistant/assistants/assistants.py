"""Assistants: create, list, change, duplicate and delete, as the caller's access allows."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.assistants import knowledge_items, sharing
from assistant.assistants.sharing import Viewer
from assistant.chat import lock_order
from assistant.models import Assistant, Skill
from assistant.schemas import AssistantCreate, AssistantUpdate
from core.listing import Page, PageRequest, paginate
from knowledge.index import TenantScope

# Fields a draft carries and a commit copies onto the published assistant.
CONTENT_FIELDS = (
    "name",
    "description",
    "icon",
    "instructions",
    "model",
    "temperature",
    "max_tokens",
    "starters",
    "toolkit_ids",
    "visibility",
    "team_id",
    "permission",
)
NULLABLE_FIELDS = {"model", "temperature", "max_tokens", "team_id"}


async def create(session: AsyncSession, *, viewer: Viewer, data: AssistantCreate) -> Assistant:
    """Make an assistant owned by the viewer.

    Raises:
        InvalidSharing: team sharing without a team of the viewer's.
    """
    sharing.check_sharing(viewer, visibility=data.visibility, team_id=data.team_id)
    assistant = Assistant(owner_id=viewer.user_id, **data.model_dump())
    session.add(assistant)
    await session.flush()
    return assistant


async def list_page(session: AsyncSession, *, viewer: Viewer, page: PageRequest) -> Page[Assistant]:
    """Published assistants the viewer may use; `q` searches names and descriptions."""
    return await paginate(
        session,
        select(Assistant).where(sharing.usable_clause(viewer)),
        page,
        sortable={
            "name": Assistant.name,
            "createdAt": Assistant.created_at,
            "updatedAt": Assistant.updated_at,
        },
        searchable=(Assistant.name, Assistant.description),
        default_sort="name",
    )


async def update(
    session: AsyncSession, *, viewer: Viewer, assistant: Assistant, data: AssistantUpdate
) -> Assistant:
    """Change an assistant or a draft; only the fields sent change (null clears a nullable one).

    Raises:
        InvalidSharing: the resulting sharing is not valid.
    """
    changes = {
        name: getattr(data, name)
        for name in data.model_fields_set
        if getattr(data, name) is not None or name in NULLABLE_FIELDS
    }
    visibility = changes.get("visibility", assistant.visibility)
    team_id = changes.get("team_id", assistant.team_id if visibility == "team" else None)
    if "visibility" in changes or "team_id" in changes:
        if team_id != assistant.team_id or visibility != assistant.visibility:
            sharing.check_sharing(viewer, visibility=visibility, team_id=team_id)
        changes["team_id"] = team_id
    for name, value in changes.items():
        setattr(assistant, name, value)
    await session.flush()
    return assistant


async def delete(session: AsyncSession, *, assistant: Assistant) -> None:
    """Remove an assistant with its drafts, skills, secrets and memories (a draft: only it)."""
    await lock_order.lock(session, chats=lock_order.of_assistant(assistant.id))  # chats first
    await session.delete(assistant)
    await session.flush()


async def duplicate(session: AsyncSession, *, viewer: Viewer, assistant: Assistant) -> Assistant:
    """A private copy for the viewer, with the skills and the knowledge the viewer may see, but
    none of the secrets or memories. Files uploaded to the original are attached to the copy."""
    source = await sharing.published_of(session, assistant)
    values = {name: getattr(assistant, name) for name in CONTENT_FIELDS}
    values.update(name=f"{assistant.name} (copy)"[:200], visibility="private", team_id=None)
    copy = Assistant(owner_id=viewer.user_id, **values)
    session.add(copy)
    await session.flush()
    for skill in await skills_of(session, assistant_id=source.id):
        session.add(copy_skill(skill, assistant_id=copy.id))
    await session.flush()
    file_ids, folder_ids = await knowledge_items.attached_ids(session, assistant_id=source.id)
    await knowledge_items.carry(
        session,
        assistant_id=copy.id,
        scope=TenantScope(viewer.user_id, viewer.team_ids),
        file_ids=file_ids,
        folder_ids=folder_ids,
    )
    return copy


async def skills_of(session: AsyncSession, *, assistant_id: str) -> list[Skill]:
    """An assistant's skills by name."""
    rows = await session.scalars(
        select(Skill).where(Skill.assistant_id == assistant_id).order_by(Skill.name)
    )
    return list(rows)


def copy_skill(skill: Skill, *, assistant_id: str) -> Skill:
    """A new skill row like `skill`, on another assistant."""
    return Skill(
        assistant_id=assistant_id,
        name=skill.name,
        description=skill.description,
        instructions=skill.instructions,
        toolkit_ids=list(skill.toolkit_ids),
        secret_names=list(skill.secret_names),
    )
