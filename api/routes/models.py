"""The model catalog: models.yaml merged with the models admins add at run time (never a key)."""

from __future__ import annotations

from fastapi import Response

from api.deps import AdminUser, ModelRuleDep, PrincipalDep, ServicesDep
from api.hal import Collection, Link, api_router, collection_of, whole
from api.responses import ModelCapabilities, ModelInfo
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
) -> ModelInfo:
    """A catalog model as a HAL resource; stored models add their provider and audit fields.
    Fields not given are left out of the body (the routes answer with
    `response_model_exclude_unset`)."""
    price = model.price
    can = capabilities_of(model)
    body = ModelInfo(
        id=model.name,
        name=model.name,
        description=model.description,
        source=model.source,
        enabled=model.enabled,
        aliases=list(model.aliases),
        providers=list(model.providers),
        mode=model.mode,
        deployments=len(model.deployments),
        available=model.available,
        unavailable_reason=model.unavailable_reason,
        is_default=model.name == catalog.default_model,
        max_input_tokens=model.max_input_tokens,
        max_output_tokens=model.max_output_tokens,
        input_cost_per_million_tokens=round(price.input_per_token * 1e6, 6) if price else None,
        output_cost_per_million_tokens=round(price.output_per_token * 1e6, 6) if price else None,
        context_window=model.max_input_tokens,
        capabilities=ModelCapabilities(
            chat=can.chat,
            embeddings=can.embeddings,
            vision=can.vision,
            tools=can.tools,
            reasoning=can.reasoning,
            prompt_caching=can.prompt_caching,
            pdf_input=can.pdf_input,
        ),
        # Informer's names: per million tokens, USD.
        chat=can.chat,
        attachments=can.vision,
        create_embeddings=can.embeddings,
        prompt_ppm=_per_million(price.input_per_token if price else None),
        completion_ppm=_per_million(price.output_per_token if price else None),
        cache_read_ppm=_per_million(price.cache_read_per_token if price else None),
        cache_write_ppm=_per_million(price.cache_write_per_token if price else None),
        links={"self": Link(href=f"/api/models/{model.name}")},
    )
    if row is not None:
        body.provider_id = row.provider_id
        body.model = row.provider_model
        body.context_window = row.context_window or model.max_input_tokens
        body.created_by = row.created_by
        body.updated_by = row.updated_by
        body.created_at = row.created_at.isoformat()
        body.updated_at = row.updated_at.isoformat()
        body.links["provider"] = Link(href=f"/api/providers/{row.provider_id}")
    if admin:
        body.disabled_teams = sorted(model.blocked_teams)
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
) -> Collection[ModelInfo]:
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
) -> ModelInfo:
    """One model, by name or alias (404 for a member whose usage profile does not allow it)."""
    model = _visible(services, principal, rule, model_id)
    row = (await _rows(services)).get(model.name) if model.source == "database" else None
    return model_body(model, services.catalog, row, admin=principal.user.is_admin)


@router.post(
    "/models", status_code=201, response_model=ModelInfo, response_model_exclude_unset=True
)
async def create_model(body: ModelCreate, admin: AdminUser, services: ServicesDep) -> ModelInfo:
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
) -> ModelInfo:
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


async def _after_change(services: Services, row: StoredModel) -> ModelInfo:
    await services.catalog_sync.refresh()
    catalog = services.catalog
    model = catalog.models.get(row.name)
    if model is None or model.source != "database":  # shadowed by a models.yaml name
        raise ModelNotFound(model=row.name)
    return model_body(model, catalog, row, admin=True)
