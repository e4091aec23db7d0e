"""Skills of an assistant: CRUD, and SKILL.md zips in and out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, Response, UploadFile

from api.deps import SessionDep
from api.hal import api_router, collection_of, resource, resource_of, whole
from api.responses import ZIP
from api.routes.assistants import ViewerDep
from assistant.assistants import sharing, skill_files, skills
from assistant.errors import SkillFileTooLarge
from assistant.models import Skill
from assistant.schemas import SkillCreate, SkillRead, SkillUpdate

router = api_router(prefix="/api/assistants/{assistant_id}/skills", tags=["Assistant skills"])


def skill_body(skill: Skill) -> dict[str, Any]:
    """A skill as a HAL resource."""
    href = f"/api/assistants/{skill.assistant_id}/skills/{skill.id}"
    return resource(SkillRead.model_validate(skill), href, export=href + "/export")


async def _usable_id(session: SessionDep, viewer: ViewerDep, assistant_id: str) -> str:
    assistant = await sharing.get_usable(session, viewer=viewer, assistant_id=assistant_id)
    return (await sharing.published_of(session, assistant)).id


async def _editable_id(session: SessionDep, viewer: ViewerDep, assistant_id: str) -> str:
    assistant = await sharing.get_editable(session, viewer=viewer, assistant_id=assistant_id)
    return (await sharing.published_of(session, assistant)).id


@router.get("", response_model=collection_of("skills", SkillRead))
async def list_skills(assistant_id: str, viewer: ViewerDep, session: SessionDep) -> dict[str, Any]:
    """An assistant's skills, by name."""
    owner = await _usable_id(session, viewer, assistant_id)
    rows = await skills.list_all(session, assistant_id=owner)
    return whole("skills", f"/api/assistants/{owner}/skills", (skill_body(s) for s in rows))


@router.post("", status_code=201, response_model=resource_of(SkillRead))
async def create_skill(
    assistant_id: str, body: SkillCreate, viewer: ViewerDep, session: SessionDep
) -> dict[str, Any]:
    """Add a skill (needs edit permission); users invoke it by starting a message with `/name`."""
    owner = await _editable_id(session, viewer, assistant_id)
    return skill_body(await skills.create(session, assistant_id=owner, data=body))


@router.post("/_import", status_code=201, response_model=resource_of(SkillRead))
async def import_skill(
    assistant_id: str,
    file: Annotated[UploadFile, File(description="A zip of a folder with SKILL.md, or SKILL.md")],
    viewer: ViewerDep,
    session: SessionDep,
) -> dict[str, Any]:
    """Add a skill from a SKILL.md (YAML front matter `name`, `description`; then instructions)."""
    owner = await _editable_id(session, viewer, assistant_id)
    data = await file.read(skill_files.MAX_ARCHIVE_BYTES + 1)
    if len(data) > skill_files.MAX_ARCHIVE_BYTES:
        raise SkillFileTooLarge(limit=skill_files.MAX_ARCHIVE_BYTES)
    parsed = skill_files.from_upload(data)
    return skill_body(await skills.create(session, assistant_id=owner, data=parsed))


@router.get("/{skill_id}", response_model=resource_of(SkillRead))
async def get_skill(
    assistant_id: str, skill_id: str, viewer: ViewerDep, session: SessionDep
) -> dict[str, Any]:
    """One skill."""
    owner = await _usable_id(session, viewer, assistant_id)
    return skill_body(await skills.get(session, assistant_id=owner, skill_id=skill_id))


@router.patch("/{skill_id}", response_model=resource_of(SkillRead))
async def update_skill(
    assistant_id: str, skill_id: str, body: SkillUpdate, viewer: ViewerDep, session: SessionDep
) -> dict[str, Any]:
    """Change a skill (needs edit permission)."""
    owner = await _editable_id(session, viewer, assistant_id)
    skill = await skills.get(session, assistant_id=owner, skill_id=skill_id)
    return skill_body(await skills.update(session, skill=skill, data=body))


@router.delete("/{skill_id}", status_code=204)
async def delete_skill(
    assistant_id: str, skill_id: str, viewer: ViewerDep, session: SessionDep
) -> Response:
    """Remove a skill (needs edit permission)."""
    owner = await _editable_id(session, viewer, assistant_id)
    await skills.delete(
        session, skill=await skills.get(session, assistant_id=owner, skill_id=skill_id)
    )
    return Response(status_code=204)


@router.get(
    "/{skill_id}/export",
    response_class=Response,
    responses={200: {**ZIP[200], "description": "<name>/SKILL.md"}},
)
async def export_skill(
    assistant_id: str, skill_id: str, viewer: ViewerDep, session: SessionDep
) -> Response:
    """A skill as a zip of the folder `<name>/SKILL.md`, the format agent tools share."""
    owner = await _usable_id(session, viewer, assistant_id)
    skill = await skills.get(session, assistant_id=owner, skill_id=skill_id)
    disposition = f'attachment; filename="{skill.name}.zip"'
    return Response(
        skill_files.to_zip(skill),
        media_type="application/zip",
        headers={"Content-Disposition": disposition},
    )
