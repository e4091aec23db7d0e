"""The model catalog as configured: models and providers (never a key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CurrentUser, ServicesDep
from api.hal import whole
from core.catalog import CatalogModel, UnknownModel
from core.errors import NotFound

router = APIRouter(prefix="/api", tags=["Models"])


class ModelNotFound(NotFound):
    """No model or alias of that name is configured."""

    code = "model_not_found"


class ProviderNotFound(NotFound):
    """No configured model uses that provider."""

    code = "provider_not_found"


def model_body(model: CatalogModel, default: str) -> dict[str, Any]:
    """A catalog model as a HAL resource."""
    price = model.price
    return {
        "id": model.name,
        "name": model.name,
        "description": model.description,
        "aliases": list(model.aliases),
        "providers": list(model.providers),
        "deployments": len(model.deployments),
        "available": model.available,
        "unavailableReason": model.unavailable_reason,
        "isDefault": model.name == default,
        "maxInputTokens": model.max_input_tokens,
        "maxOutputTokens": model.max_output_tokens,
        "inputCostPerMillionTokens": round(price.input_per_token * 1e6, 6) if price else None,
        "outputCostPerMillionTokens": round(price.output_per_token * 1e6, 6) if price else None,
        "_links": {"self": {"href": f"/api/models/{model.name}"}},
    }


@router.get("/models")
async def list_models(_: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """Every configured model, and whether it is usable here."""
    catalog = services.catalog
    items = (model_body(m, catalog.default_model) for m in catalog.models.values())
    return whole("models", "/api/models", items)


@router.get("/models/{model_id}")
async def get_model(model_id: str, _: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """One model, by name or alias."""
    catalog = services.catalog
    try:
        model = catalog.resolve(model_id)
    except UnknownModel:
        raise ModelNotFound(model=model_id) from None
    return model_body(model, catalog.default_model)


def _providers(services: ServicesDep) -> dict[str, dict[str, Any]]:
    providers: dict[str, dict[str, Any]] = {}
    missing: dict[str, set[str]] = {}
    for model in services.catalog.models.values():
        for deployment in model.deployments:
            entry = providers.setdefault(
                deployment.provider,
                {
                    "id": deployment.provider,
                    "name": deployment.provider,
                    "models": [],
                    "configured": False,
                },
            )
            if model.name not in entry["models"]:
                entry["models"].append(model.name)
            entry["configured"] = entry["configured"] or deployment.available
            missing.setdefault(deployment.provider, set()).update(deployment.missing_env)
    for name, entry in providers.items():
        entry["missingSettings"] = [] if entry["configured"] else sorted(missing[name])
        entry["_links"] = {"self": {"href": f"/api/providers/{name}"}}
    return providers


@router.get("/providers")
async def list_providers(_: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """The providers behind the configured models, and which of them are set up."""
    return whole("providers", "/api/providers", _providers(services).values())


@router.get("/providers/{provider_id}")
async def get_provider(provider_id: str, _: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """One provider: its models and the settings it still needs."""
    provider = _providers(services).get(provider_id)
    if provider is None:
        raise ProviderNotFound(provider=provider_id)
    return provider
