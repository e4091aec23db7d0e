"""The model catalog: models.yaml merged with the models admins add at run time (never a key)."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from api.deps import AdminUser, ModelRuleDep, PrincipalDep, ServicesDep
from api.hal import api_router, collection_of, whole
from api.responses import ModelInfo
from api.services import Services
from billing.profiles import ModelRule
from core import stored_models
from core.capabilities import capabilities_of
from core.catalog import Catalog, CatalogModel, UnknownModel
from core.catalog_schemas import ModelCreate, ModelUpdate
from core.database import write_transaction
from core.errors import NotFound
from core.models import StoredModel

router = api_router(prefix="/api", tags=["Models"])


class ModelNotFound(NotFound):
    """No model or alias of that name is configured."""

    code = "model_not_found"


def model_body(
    model: CatalogModel, catalog: Catalog, row: StoredModel | None = None, *, admin: bool = False
) -> dict[str, Any]:
    """A catalog model as a HAL resource; stored models add their provider and audit fields."""
    price = model.price
    can = capabilities_of(model)
    body: dict[str, Any] = {
        "id": model.name,
        "name": model.name,
        "description": model.description,
        "source": model.source,
        "enabled": model.enabled,
        "aliases": list(model.aliases),
        "providers": list(model.providers),
        "mode": model.mode,
        "deployments": len(model.deployments),
        "available": model.available,
        "unavailableReason": model.unavailable_reason,
        "isDefault": model.name == catalog.default_model,
        "maxInputTokens": model.max_input_tokens,
        "maxOutputTokens": model.max_output_tokens,
        "inputCostPerMillionTokens": round(price.input_per_token * 1e6, 6) if price else None,
        "outputCostPerMillionTokens": round(price.output_per_token * 1e6, 6) if price else None,
        "contextWindow": model.max_input_tokens,
        "capabilities": {
            "chat": can.chat,
            "embeddings": can.embeddings,
            "vision": can.vision,
            "tools": can.tools,
            "reasoning": can.reasoning,
            "promptCaching": can.prompt_caching,
            "pdfInput": can.pdf_input,
        },
        # Informer's names: per million tokens, USD.
        "chat": can.chat,
        "attachments": can.vision,
        "createEmbeddings": can.embeddings,
        "promptPpm": _per_million(price.input_per_token if price else None),
        "completionPpm": _per_million(price.output_per_token if price else None),
        "cacheReadPpm": _per_million(price.cache_read_per_token if price else None),
        "cacheWritePpm": _per_million(price.cache_write_per_token if price else None),
        "_links": {"self": {"href": f"/api/models/{model.name}"}},
    }
    if row is not None:
        body |= {
            "providerId": row.provider_id,
            "model": row.provider_model,
            "contextWindow": row.context_window or model.max_input_tokens,
            "createdBy": row.created_by,
            "updatedBy": row.updated_by,
            "createdAt": row.created_at.isoformat(),
            "updatedAt": row.updated_at.isoformat(),
        }
        body["_links"]["provider"] = {"href": f"/api/providers/{row.provider_id}"}
    if admin:
        body["disabledTeams"] = sorted(model.blocked_teams)
    return body


def _per_million(per_token: float | None) -> float | None:
    return None if per_token is None else round(per_token * 1e6, 6)


async def _rows(services: Services) -> dict[str, StoredModel]:
    async with services.sessions() as session:
        return {row.name: row for row in await stored_models.list_all(session)}


@router.get(
    "/models", response_model=collection_of("models", ModelInfo), response_model_exclude_unset=True
)
async def list_models(
    principal: PrincipalDep, services: ServicesDep, rule: ModelRuleDep, usable: bool = False
) -> dict[str, Any]:
    """The models you may use, and whether each is usable here.

    For members, models turned off for one of their teams or not allowed by their usage profile
    are left out (the same rule that refuses a call). Admins see the whole catalog, with each
    model's `disabledTeams`, to manage it; `usable=true` filters theirs like a member's (the
    chat page's model picker asks for it).
    """
    catalog, admin = services.catalog, principal.user.is_admin
    rows = await _rows(services)
    team_ids = principal.team_ids
    items = (
        model_body(m, catalog, rows.get(m.name) if m.source == "database" else None, admin=admin)
        for m in list(catalog.models.values())
        if (admin and not usable) or (not catalog.blocked(m, team_ids) and rule.admits(m))
    )
    return whole("models", "/api/models", items)


def _visible(
    services: Services, principal: PrincipalDep, rule: ModelRule, model_id: str
) -> CatalogModel:
    catalog = services.catalog
    try:
        model = catalog.resolve(model_id)
    except UnknownModel:
        raise ModelNotFound(model=model_id) from None
    if principal.user.is_admin:
        return model
    if catalog.blocked(model, principal.team_ids) or not rule.admits(model):
        raise ModelNotFound(model=model_id)
    return model


@router.get("/models/{model_id}", response_model=ModelInfo, response_model_exclude_unset=True)
async def get_model(
    model_id: str, principal: PrincipalDep, services: ServicesDep, rule: ModelRuleDep
) -> dict[str, Any]:
    """One model, by name or alias (404 for a member whose usage profile does not allow it)."""
    model = _visible(services, principal, rule, model_id)
    row = (await _rows(services)).get(model.name) if model.source == "database" else None
    return model_body(model, services.catalog, row, admin=principal.user.is_admin)


@router.post(
    "/models", status_code=201, response_model=ModelInfo, response_model_exclude_unset=True
)
async def create_model(
    body: ModelCreate, admin: AdminUser, services: ServicesDep
) -> dict[str, Any]:
    """Add a model served through a stored provider (admins). Every worker serves it within
    `SWITCHBOARD_CATALOG_POLL_SECONDS`; this one at once."""
    async with write_transaction(services.sessions) as session:
        row = await stored_models.create(
            session, data=body, catalog=services.catalog, actor_id=admin.id
        )
    return await _after_change(services, row)


async def _stored(services: Services, model_id: str) -> StoredModel:
    """The stored row behind a model name or alias; models.yaml entries are read-only.

    Raises:
        ModelReadOnly: the model comes from models.yaml.
        ModelNotFound: no such model.
    """
    catalog = services.catalog
    name = catalog.aliases.get(model_id, model_id)
    model = catalog.models.get(name)
    if model is not None and model.source == "file":
        raise stored_models.ModelReadOnly(
            f"Model {name!r} comes from models.yaml and is read-only here; edit the file.",
            model=name,
        )
    async with services.sessions() as session:
        try:
            return await stored_models.get(session, name=name)
        except stored_models.StoredModelNotFound:
            raise ModelNotFound(model=model_id) from None


@router.patch("/models/{model_id}", response_model=ModelInfo, response_model_exclude_unset=True)
async def update_model(
    model_id: str, body: ModelUpdate, admin: AdminUser, services: ServicesDep
) -> dict[str, Any]:
    """Change a stored model (admins); models.yaml entries answer 409 `model_read_only`."""
    found = await _stored(services, model_id)
    async with write_transaction(services.sessions) as session:
        row = await session.get(StoredModel, found.id)
        if row is None:
            raise ModelNotFound(model=model_id)
        row = await stored_models.update(
            session, model=row, data=body, catalog=services.catalog, actor_id=admin.id
        )
    return await _after_change(services, row)


@router.delete("/models/{model_id}", status_code=204)
async def delete_model(model_id: str, _: AdminUser, services: ServicesDep) -> Response:
    """Remove a stored model (admins); models.yaml entries answer 409 `model_read_only`."""
    found = await _stored(services, model_id)
    async with write_transaction(services.sessions) as session:
        row = await session.get(StoredModel, found.id)
        if row is not None:
            await stored_models.delete(session, model=row)
    await services.catalog_sync.refresh()
    return Response(status_code=204)


async def _after_change(services: Services, row: StoredModel) -> dict[str, Any]:
    await services.catalog_sync.refresh()
    catalog = services.catalog
    model = catalog.models.get(row.name)
    if model is None or model.source != "database":  # shadowed by a models.yaml name
        raise ModelNotFound(model=row.name)
    return model_body(model, catalog, row, admin=True)
