"""The provider types LiteLLM can reach and the fields each needs, for the provider form."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from api.deps import AdminUser
from api.hal import Collection, Resource, api_router, collection_of, resource, resource_of, whole
from assistant.gateway import provider_types
from assistant.gateway.provider_types import ProviderKind
from core.catalog_schemas import ProviderFieldRead, ProviderTypeRead
from core.errors import NotFound

router = api_router(prefix="/api/provider-types", tags=["Providers"])
TypeId = Annotated[str, Path(max_length=100)]


class ProviderTypeNotFound(NotFound):
    """LiteLLM knows no provider of that type."""

    code = "provider_type_not_found"


def type_body(kind: ProviderKind) -> Resource[ProviderTypeRead]:
    """A provider type as a HAL resource."""
    read = ProviderTypeRead(
        id=kind.id,
        name=kind.name,
        fields=[ProviderFieldRead.model_validate(f) for f in kind.fields],
        storable=kind.storable,
        openai_compatible=kind.openai_compatible,
        known=kind.known,
    )
    return resource(read, f"/api/provider-types/{kind.id}")


@router.get("", response_model=collection_of("providerTypes", ProviderTypeRead))
async def list_provider_types(_: AdminUser) -> Collection[Resource[ProviderTypeRead]]:
    """Every provider LiteLLM can reach, with the fields each needs (`apiKey`, `apiBase`,
    `apiVersion`, region, project, ...). The common providers come first with fields from
    Switchboard's table (`known`); the rest follow by id from LiteLLM's own list. `storable`
    says POST /api/providers takes the type; the others are set up in models.yaml. Admins only."""
    kinds = await provider_types.provider_kinds()
    return whole("providerTypes", "/api/provider-types", map(type_body, kinds))


@router.get("/{type_id}", response_model=resource_of(ProviderTypeRead))
async def get_provider_type(type_id: TypeId, _: AdminUser) -> Resource[ProviderTypeRead]:
    """One provider type and its fields; 404 `provider_type_not_found` for one LiteLLM does not
    know. Admins only."""
    for kind in await provider_types.provider_kinds():
        if kind.id == type_id:
            return type_body(kind)
    raise ProviderTypeNotFound(type=type_id)
