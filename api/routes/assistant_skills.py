"""Skills of an assistant: CRUD, and SKILL.md zips in and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, File, Response, UploadFile

from api.deps import EditablePublishedDep, SessionDep, UsablePublishedDep
from api.hal import Collection, Resource, api_router, collection_of, resource, resource_of, whole
from api.responses import ZIP
from assistant.assistants import skill_files, skills
from assistant.errors import SkillFileTooLarge
from assistant.models import Skill
from assistant.schemas import SkillCreate, SkillRead, SkillUpdate

router = api_router(prefix="/api/assistants/{assistant_id}/skills", tags=["Assistant skills"])


async def usable_skill(skill_id: str, assistant: UsablePublishedDep, session: SessionDep) -> Skill:
    """The skill `skill_id` of an assistant the caller may use (else 404 `skill_not_found`)."""
    return await skills.get(session, assistant_id=assistant.id, skill_id=skill_id)


async def editable_skill(
    skill_id: str, assistant: EditablePublishedDep, session: SessionDep
) -> Skill:
    """The skill `skill_id` of an assistant the caller may edit (else 404 `skill_not_found`)."""
    return await skills.get(session, assistant_id=assistant.id, skill_id=skill_id)


UsableSkillDep = Annotated[Skill, Depends(usable_skill)]
EditableSkillDep = Annotated[Skill, Depends(editable_skill)]


def skill_body(skill: Skill) -> Resource[SkillRead]:
    """A skill as a HAL resource."""
    href = f"/api/assistants/{skill.assistant_id}/skills/{skill.id}"
    return resource(SkillRead.model_validate(skill), href, export=href + "/export")


@router.get("", response_model=collection_of("skills", SkillRead))
async def list_skills(
    assistant: UsablePublishedDep, session: SessionDep
) -> Collection[Resource[SkillRead]]:
    """An assistant's skills, by name."""
    rows = await skills.list_all(session, assistant_id=assistant.id)
    return whole("skills", f"/api/assistants/{assistant.id}/skills", (skill_body(s) for s in rows))


@router.post("", status_code=201, response_model=resource_of(SkillRead))
async def create_skill(
    assistant: EditablePublishedDep, body: SkillCreate, session: SessionDep
) -> Resource[SkillRead]:
    """Add a skill (needs edit permission); users invoke it by starting a message with `/name`."""
    return skill_body(await skills.create(session, assistant_id=assistant.id, data=body))


@router.post("/_import", status_code=201, response_model=resource_of(SkillRead))
async def import_skill(
    assistant: EditablePublishedDep,
    file: Annotated[UploadFile, File(description="A zip of a folder with SKILL.md, or SKILL.md")],
    session: SessionDep,
) -> Resource[SkillRead]:
    """Add a skill from a SKILL.md (YAML front matter `name`, `description`; then instructions)."""
    data = await file.read(skill_files.MAX_ARCHIVE_BYTES + 1)
    if len(data) > skill_files.MAX_ARCHIVE_BYTES:
        raise SkillFileTooLarge(limit=skill_files.MAX_ARCHIVE_BYTES)
    parsed = skill_files.from_upload(data)
    return skill_body(await skills.create(session, assistant_id=assistant.id, data=parsed))


@router.get("/{skill_id}", response_model=resource_of(SkillRead))
async def get_skill(skill: UsableSkillDep) -> Resource[SkillRead]:
    """One skill."""
    return skill_body(skill)


@router.patch("/{skill_id}", response_model=resource_of(SkillRead))
async def update_skill(
    skill: EditableSkillDep, body: SkillUpdate, session: SessionDep
) -> Resource[SkillRead]:
    """Change a skill (needs edit permission)."""
    return skill_body(await skills.update(session, skill=skill, data=body))


@router.delete("/{skill_id}", status_code=204)
async def delete_skill(skill: EditableSkillDep, session: SessionDep) -> Response:
    """Remove a skill (needs edit permission)."""
    await skills.delete(session, skill=skill)
    return Response(status_code=204)


@router.get(
    "/{skill_id}/export",
    response_class=Response,
    responses={200: {**ZIP[200], "description": "<name>/SKILL.md"}},
)
async def export_skill(skill: UsableSkillDep) -> Response:
    """A skill as a zip of the folder `<name>/SKILL.md`, the format agent tools share."""
    disposition = f'attachment; filename="{skill.name}.zip"'
    return Response(
        skill_files.to_zip(skill),
        media_type="application/zip",
        headers={"Content-Disposition": disposition},
    )
