"""Assistants: CRUD, sharing, drafts (`_edit`, `_commit`), duplicates, JSON export and import."""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse

from api.deps import (
    EditableAssistantDep,
    PageDep,
    SessionDep,
    UsableAssistantDep,
    ViewerDep,
)
from api.hal import Collection, Resource, api_router, collection, collection_of, resource
from api.responses import AssistantExported, AssistantImported, AssistantResource
from assistant.assistants import assistants, drafts, portability, sharing
from assistant.models import Assistant
from assistant.schemas import AssistantCreate, AssistantExport, AssistantRead, AssistantUpdate

router = api_router(prefix="/api/assistants", tags=["Assistants"])


def assistant_body(assistant: Assistant, access: str) -> Resource[AssistantRead]:
    """An assistant (or draft) as a HAL resource, with the caller's access."""
    href = f"/api/assistants/{assistant.id}"
    read = AssistantRead.model_validate(
        {
            **{f: getattr(assistant, f) for f in AssistantRead.model_fields if f != "access"},
            "access": access,
        }
    )
    published = assistant.editing_id or assistant.id
    links = {
        "skills": f"/api/assistants/{published}/skills",
        "memories": f"/api/assistants/{published}/memories",
        "export": href + "/export",
    }
    if access == "edit":
        links["secrets"] = f"/api/assistants/{published}/secrets"
    if assistant.editing_id:
        links["published"] = f"/api/assistants/{assistant.editing_id}"
        links["commit"] = href + "/_commit"
    return resource(read, href, **links)


@router.get("", response_model=collection_of("assistants", AssistantRead))
async def list_assistants(
    viewer: ViewerDep, session: SessionDep, page: PageDep
) -> Collection[Resource[AssistantRead]]:
    """Published assistants you may use: yours and those shared with your teams or everyone."""
    result = await assistants.list_page(session, viewer=viewer, page=page)

    def render(assistant: Assistant) -> Resource[AssistantRead]:
        return assistant_body(assistant, sharing.access_of(assistant, viewer) or "use")

    params = {"q": page.q, "sort": page.sort}
    return collection("assistants", "/api/assistants", result, render, params)


@router.post("", status_code=201, response_model=AssistantResource)
async def create_assistant(
    body: AssistantCreate, viewer: ViewerDep, session: SessionDep
) -> Resource[AssistantRead]:
    """Make an assistant; it is private unless `visibility` is `team` (with `teamId`) or `instance`,
    shared with `permission` `use` or `edit`."""
    return assistant_body(await assistants.create(session, viewer=viewer, data=body), "edit")


@router.post("/_import", status_code=201, response_model=AssistantImported)
async def import_assistant(
    body: AssistantExport, viewer: ViewerDep, session: SessionDep
) -> Resource[AssistantRead]:
    """Make a private assistant from an export; set its secrets afterwards (exports hold none).
    Knowledge files and folders of the export that you may see are attached again; the others
    are listed in `skippedKnowledge` (`fileIds`, `folderIds`)."""
    assistant, skipped = await portability.import_(session, viewer=viewer, data=body)
    imported = assistant_body(assistant, "edit")
    imported["skippedKnowledge"] = skipped.model_dump(mode="json", by_alias=True)
    return imported


@router.get("/{assistant_id}", response_model=AssistantResource)
async def get_assistant(
    assistant: UsableAssistantDep, viewer: ViewerDep, session: SessionDep
) -> Resource[AssistantRead]:
    """An assistant you may use, or a draft of one you may edit."""
    return assistant_body(assistant, await sharing.access_to(session, assistant, viewer) or "use")


@router.patch("/{assistant_id}", response_model=AssistantResource)
async def update_assistant(
    assistant: EditableAssistantDep, body: AssistantUpdate, viewer: ViewerDep, session: SessionDep
) -> Resource[AssistantRead]:
    """Change an assistant or a draft (needs edit permission); `null` clears model and params."""
    updated = await assistants.update(session, viewer=viewer, assistant=assistant, data=body)
    return assistant_body(updated, "edit")


@router.delete("/{assistant_id}", status_code=204)
async def delete_assistant(assistant: EditableAssistantDep, session: SessionDep) -> Response:
    """Delete an assistant with its skills, secrets and memories; for a draft, discard just it."""
    await assistants.delete(session, assistant=assistant)
    return Response(status_code=204)


@router.post(
    "/{assistant_id}/_edit",
    status_code=201,
    response_model=AssistantResource,
    responses={200: {"description": "The draft already open.", "model": AssistantResource}},
)
async def open_draft(
    assistant: EditableAssistantDep, viewer: ViewerDep, session: SessionDep
) -> JSONResponse:
    """Open the draft of an assistant (201), or return the one already open (200)."""
    draft, made = await drafts.open_draft(session, viewer=viewer, assistant=assistant)
    return JSONResponse(assistant_body(draft, "edit"), status_code=201 if made else 200)


@router.post("/{assistant_id}/_commit", response_model=AssistantResource)
async def commit_draft(
    assistant: EditableAssistantDep, session: SessionDep
) -> Resource[AssistantRead]:
    """Publish a draft onto its assistant in one step (the id may also be the published one's)."""
    if assistant.editing_id is None:
        assistant = await drafts.draft_of(session, published=assistant)
    return assistant_body(await drafts.commit(session, draft=assistant), "edit")


@router.post("/{assistant_id}/_duplicate", status_code=201, response_model=AssistantResource)
async def duplicate_assistant(
    assistant: UsableAssistantDep, viewer: ViewerDep, session: SessionDep
) -> Resource[AssistantRead]:
    """A private copy of an assistant you may use, with its skills and the knowledge files and
    folders you may see yourself (not secrets or memories)."""
    copy = await assistants.duplicate(session, viewer=viewer, assistant=assistant)
    return assistant_body(copy, "edit")


@router.get("/{assistant_id}/export", response_model=AssistantExported)
async def export_assistant(assistant: UsableAssistantDep, session: SessionDep) -> AssistantExport:
    """An assistant as JSON for `_import`: fields, skills, secret names (never secret values) and
    the ids of its knowledge files and folders."""
    return await portability.export(session, assistant=assistant)
