"""Assistants as portable JSON: export without secret values, import as a new private assistant."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from assistant.assistants import assistants, knowledge_items, secrets, sharing, skills
from assistant.assistants.sharing import Viewer
from assistant.errors import SkillNameTaken
from assistant.models import Assistant, Skill
from assistant.schemas import (
    AssistantCreate,
    AssistantExport,
    AssistantFields,
    KnowledgeExport,
    SecretExport,
    SkillExport,
)
from knowledge.index import TenantScope


async def export(session: AsyncSession, *, assistant: Assistant) -> AssistantExport:
    """An assistant, its skills, the names of its secrets (never their values) and the ids of
    its knowledge files and folders."""
    published = await sharing.published_of(session, assistant)
    fields = AssistantFields.model_validate(assistant, from_attributes=True)
    skill_rows = await skills.list_all(session, assistant_id=published.id)
    secret_rows = await secrets.list_all(session, assistant_id=published.id)
    file_ids, folder_ids = await knowledge_items.attached_ids(session, assistant_id=published.id)
    return AssistantExport(
        name=assistant.name,
        assistant=fields,
        skills=[SkillExport.model_validate(s, from_attributes=True) for s in skill_rows],
        secrets=[SecretExport(name=s.name, description=s.description) for s in secret_rows],
        knowledge=KnowledgeExport(file_ids=file_ids, folder_ids=folder_ids),
    )


async def import_(
    session: AsyncSession, *, viewer: Viewer, data: AssistantExport
) -> tuple[Assistant, KnowledgeExport]:
    """A new private assistant of the viewer's, made from an export (secrets are set afterwards),
    with the export's knowledge the viewer may see; returns it and the knowledge ids skipped.

    Raises:
        SkillNameTaken: the export names one skill twice.
    """
    create = AssistantCreate(name=data.name, **data.assistant.model_dump())
    assistant = await assistants.create(session, viewer=viewer, data=create)
    seen: set[str] = set()
    for skill in data.skills:
        if skill.name in seen:
            raise SkillNameTaken(name=skill.name)
        seen.add(skill.name)
        session.add(Skill(assistant_id=assistant.id, **skill.model_dump()))
    await session.flush()
    skipped_files, skipped_folders = await knowledge_items.carry(
        session,
        assistant_id=assistant.id,
        scope=TenantScope(viewer.user_id, viewer.team_ids),
        file_ids=data.knowledge.file_ids,
        folder_ids=data.knowledge.folder_ids,
    )
    return assistant, KnowledgeExport(file_ids=skipped_files, folder_ids=skipped_folders)
