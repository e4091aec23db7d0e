"""Secrets of an assistant (editors only; values go in, never out) and the caller's memories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from api.deps import (
    CurrentUser,
    EditablePublishedDep,
    ServicesDep,
    SessionDep,
    UsablePublishedDep,
    ViewerDep,
)
from api.hal import (
    Collection,
    Resource,
    api_router,
    collection_of,
    resource,
    resource_of,
    whole,
)
from assistant.assistants import keyring, memories, secrets
from assistant.assistants.keyring import Keyring
from assistant.models import Memory, Secret
from assistant.schemas import MemoryCreate, MemoryRead, SecretCreate, SecretPut, SecretRead

SecretResource = resource_of(SecretRead)
router = api_router(
    prefix="/api/assistants/{assistant_id}", tags=["Assistant secrets and memories"]
)
SECRET_NAME_PATH = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_rings: dict[tuple[Path, str], Keyring] = {}


def get_keyring(services: ServicesDep) -> Keyring:
    """The secrets keyring of the app's data directory (made on first use)."""
    settings = services.settings
    configured = settings.secrets_key.get_secret_value()
    cache_key = (settings.data_dir.resolve(), configured)
    if cache_key not in _rings:
        _rings[cache_key] = keyring.load(settings.data_dir, configured)
    return _rings[cache_key]


KeyringDep = Annotated[Keyring, Depends(get_keyring)]


async def editable_secret(
    name: str, assistant: EditablePublishedDep, session: SessionDep
) -> Secret:
    """The secret `name` of an assistant the caller may edit (else 404 `secret_not_found`)."""
    return await secrets.get(session, assistant_id=assistant.id, name=name)


async def own_memory(
    memory_id: str, assistant: UsablePublishedDep, viewer: ViewerDep, session: SessionDep
) -> Memory:
    """The caller's own memory `memory_id` in an assistant they may use (else 404
    `memory_not_found`; no one sees another's memories)."""
    return await memories.get(
        session, assistant_id=assistant.id, user_id=viewer.user_id, memory_id=memory_id
    )


SecretDep = Annotated[Secret, Depends(editable_secret)]
MemoryDep = Annotated[Memory, Depends(own_memory)]


def secret_body(secret: Secret) -> Resource[SecretRead]:
    """A secret as a HAL resource: name, description and times, never the value."""
    href = f"/api/assistants/{secret.assistant_id}/secrets/{secret.name}"
    return resource(SecretRead.model_validate(secret), href)


def memory_body(memory: Memory) -> Resource[MemoryRead]:
    """A memory as a HAL resource."""
    href = f"/api/assistants/{memory.assistant_id}/memories/{memory.id}"
    return resource(MemoryRead.model_validate(memory), href)


@router.get("/secrets", response_model=collection_of("secrets", SecretRead))
async def list_secrets(
    assistant: EditablePublishedDep, session: SessionDep
) -> Collection[Resource[SecretRead]]:
    """An assistant's secrets, without values (needs edit permission)."""
    rows = await secrets.list_all(session, assistant_id=assistant.id)
    return whole(
        "secrets", f"/api/assistants/{assistant.id}/secrets", (secret_body(s) for s in rows)
    )


@router.post("/secrets", status_code=201, response_model=SecretResource)
async def create_secret(
    assistant: EditablePublishedDep,
    body: SecretCreate,
    session: SessionDep,
    ring: KeyringDep,
    user: CurrentUser,
) -> Resource[SecretRead]:
    """Store a secret, encrypted; its value is never shown again (needs edit permission)."""
    secret = await secrets.create(
        session,
        ring=ring,
        assistant_id=assistant.id,
        name=body.name,
        value=body.value,
        description=body.description,
        actor_id=user.id,
    )
    return secret_body(secret)


@router.get("/secrets/{name}", response_model=SecretResource)
async def get_secret(secret: SecretDep) -> Resource[SecretRead]:
    """One secret, without its value (needs edit permission)."""
    return secret_body(secret)


@router.put(
    "/secrets/{name}",
    response_model=SecretResource,
    responses={201: {"description": "Created.", "model": SecretResource}},
)
async def put_secret(
    assistant: EditablePublishedDep,
    name: Annotated[str, PathParam(pattern=SECRET_NAME_PATH)],
    body: SecretPut,
    session: SessionDep,
    ring: KeyringDep,
    user: CurrentUser,
) -> JSONResponse:
    """Set a secret's value (200), creating the secret when missing (201)."""
    secret, created = await secrets.put(
        session,
        ring=ring,
        assistant_id=assistant.id,
        name=name,
        value=body.value,
        description=body.description,
        actor_id=user.id,
    )
    return JSONResponse(secret_body(secret), status_code=201 if created else 200)


@router.delete("/secrets/{name}", status_code=204)
async def delete_secret(secret: SecretDep, session: SessionDep, user: CurrentUser) -> Response:
    """Remove a secret (needs edit permission)."""
    await secrets.delete(session, secret=secret, actor_id=user.id)
    return Response(status_code=204)


@router.get("/memories", response_model=collection_of("memories", MemoryRead))
async def list_memories(
    assistant: UsablePublishedDep, viewer: ViewerDep, session: SessionDep
) -> Collection[Resource[MemoryRead]]:
    """What the assistant remembers about you (no one else sees these)."""
    rows = await memories.list_all(session, assistant_id=assistant.id, user_id=viewer.user_id)
    return whole(
        "memories", f"/api/assistants/{assistant.id}/memories", (memory_body(m) for m in rows)
    )


@router.post("/memories", status_code=201, response_model=resource_of(MemoryRead))
async def create_memory(
    assistant: UsablePublishedDep, body: MemoryCreate, viewer: ViewerDep, session: SessionDep
) -> Resource[MemoryRead]:
    """Tell the assistant a fact to remember about you in every chat with it."""
    memory = await memories.create(
        session, assistant_id=assistant.id, user_id=viewer.user_id, content=body.content
    )
    return memory_body(memory)


@router.patch("/memories/{memory_id}", response_model=resource_of(MemoryRead))
async def update_memory(
    memory: MemoryDep, body: MemoryCreate, session: SessionDep
) -> Resource[MemoryRead]:
    """Reword one of your memories."""
    return memory_body(await memories.update(session, memory=memory, content=body.content))


@router.delete("/memories/{memory_id}", status_code=204)
async def delete_memory(memory: MemoryDep, session: SessionDep) -> Response:
    """Make the assistant forget one of your memories."""
    await memories.delete(session, memory=memory)
    return Response(status_code=204)
