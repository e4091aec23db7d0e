"""AI service providers: those behind models.yaml (read-only) and those admins add at run time.

A stored provider's key is sealed at rest and never returned: responses say `hasApiKey`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi import Body, Response

from api.deps import AdminUser, CurrentUser, ServicesDep
from api.hal import Collection, Link, api_router, collection_of, whole
from api.responses import ProviderCheck, ProviderInfo
from api.services import Services
from core import providers
from core.catalog import ENV_PREFIX
from core.catalog_schemas import ProviderCreate, ProviderRead, ProviderTest, ProviderUpdate
from core.database import write_transaction
from core.models import Provider

router = api_router(prefix="/api/providers", tags=["Providers"])


def provider_body(provider: Provider, models: list[str], *, admin: bool) -> ProviderInfo:
    """A stored provider as a HAL resource (its key only as `hasApiKey`; its `apiBase`, an
    internal address, for admins only)."""
    read = ProviderRead(
        id=provider.id,
        name=provider.name,
        type=provider.type,
        api_base=provider.api_base,
        api_version=provider.options.get("api_version"),
        has_api_key=provider.sealed_credentials is not None,
        models=models,
        created_by=provider.created_by,
        updated_by=provider.updated_by,
        created_at=provider.created_at,
        updated_at=provider.updated_at,
    )
    href = f"/api/providers/{provider.id}"
    links = {"self": Link(href=href), "test": Link(href=f"{href}/_test")}
    # Unset fields are left out of the body (response_model_exclude_unset): a member's has no
    # `apiBase` at all.
    shown = read.model_dump(exclude=None if admin else {"api_base"})
    return ProviderInfo(**shown, links=links)


def _file_providers(services: Services) -> dict[str, ProviderInfo]:
    """The providers behind models.yaml's models, by LiteLLM provider name."""
    models: dict[str, list[str]] = {}
    configured: dict[str, bool] = {}
    missing: dict[str, set[str]] = {}
    for model in services.catalog.models.values():
        if model.source != "file":
            continue
        for deployment in model.deployments:
            name = deployment.provider
            names = models.setdefault(name, [])
            if model.name not in names:
                names.append(model.name)
            configured[name] = configured.get(name, False) or deployment.available
            missing.setdefault(name, set()).update(deployment.missing_env)
    return {
        name: ProviderInfo(
            id=name,
            name=name,
            type=name,
            source="file",
            models=names,
            configured=configured[name],
            missing_settings=[] if configured[name] else sorted(missing[name]),
            links={"self": Link(href=f"/api/providers/{name}")},
        )
        for name, names in models.items()
    }


@router.get(
    "", response_model=collection_of("providers", ProviderInfo), response_model_exclude_unset=True
)
async def list_providers(user: CurrentUser, services: ServicesDep) -> Collection[ProviderInfo]:
    """The providers behind models.yaml (`source: "file"`, with which are set up) and those
    admins added (`source: "database"`). Only admins see a provider's `apiBase`."""
    async with services.sessions() as session:
        stored = await providers.list_all(session)
        names = await providers.model_names(session)
    items = [*_file_providers(services).values()]
    items += [provider_body(p, names.get(p.id, []), admin=user.is_admin) for p in stored]
    return whole("providers", "/api/providers", items)


@router.get("/{provider_id}", response_model=ProviderInfo, response_model_exclude_unset=True)
async def get_provider(provider_id: str, user: CurrentUser, services: ServicesDep) -> ProviderInfo:
    """One provider: a stored one by id, or one behind models.yaml by its LiteLLM name. Only
    admins see its `apiBase`."""
    from_file = _file_providers(services).get(provider_id)
    if from_file is not None:
        return from_file
    async with services.sessions() as session:
        provider = await providers.get(session, provider_id=provider_id)
        names = await providers.model_names(session)
    return provider_body(provider, names.get(provider.id, []), admin=user.is_admin)


@router.post("", status_code=201, response_model=ProviderInfo, response_model_exclude_unset=True)
async def create_provider(
    body: ProviderCreate, admin: AdminUser, services: ServicesDep
) -> ProviderInfo:
    """Add a provider (admins): a name, a LiteLLM `type`, an `apiBase` and an `apiKey`."""
    async with write_transaction(services.sessions) as session:
        provider = await providers.create(
            session,
            data=body,
            sealer=services.catalog_sync.sealer,
            actor_id=admin.id,
            hosts=services.gateway.hosts,
        )
    await services.catalog_sync.refresh()
    return provider_body(provider, [], admin=True)


def _writable(services: Services, provider_id: str) -> None:
    if provider_id in _file_providers(services):
        raise providers.ProviderReadOnly(provider=provider_id)


@router.patch("/{provider_id}", response_model=ProviderInfo, response_model_exclude_unset=True)
async def update_provider(
    provider_id: str, body: ProviderUpdate, admin: AdminUser, services: ServicesDep
) -> ProviderInfo:
    """Change a stored provider (admins); `apiKey: null` removes the key. Providers behind
    models.yaml answer 409 `provider_read_only`."""
    _writable(services, provider_id)
    async with write_transaction(services.sessions) as session:
        provider = await providers.get(session, provider_id=provider_id)
        provider = await providers.update(
            session,
            provider=provider,
            data=body,
            sealer=services.catalog_sync.sealer,
            actor_id=admin.id,
            hosts=services.gateway.hosts,
        )
        names = await providers.model_names(session)
    await services.catalog_sync.refresh()
    return provider_body(provider, names.get(provider.id, []), admin=True)


@router.delete("/{provider_id}", status_code=204)
async def delete_provider(provider_id: str, _: AdminUser, services: ServicesDep) -> Response:
    """Remove a stored provider no model uses (admins); 409 `provider_in_use` otherwise."""
    _writable(services, provider_id)
    async with write_transaction(services.sessions) as session:
        provider = await providers.get(session, provider_id=provider_id)
        await providers.delete(session, provider=provider)
    await services.catalog_sync.refresh()
    return Response(status_code=204)


@router.post("/{provider_id}/_test", response_model=ProviderCheck)
async def test_provider(
    provider_id: str,
    _: AdminUser,
    services: ServicesDep,
    body: ProviderTest | None = Body(default=None),
) -> ProviderCheck:
    """Make one cheap call (max_tokens 1) through the provider and say whether it worked.

    `model` is the provider-side model id; by default one of the provider's models. A provider
    that is down or refuses the key is a 200 with `ok: false` and the `reason`.
    """
    wanted = body.model if body is not None else None
    if provider_id in _file_providers(services):
        params, reason = _file_deployment(services, provider_id, wanted)
    else:
        sealer = services.catalog_sync.sealer
        async with services.sessions() as session:
            params = await providers.test_params(
                session, provider_id=provider_id, model=wanted, sealer=sealer
            )
        reason = None
    started = time.perf_counter()
    if reason is None:
        reason = await services.metering.probe(params)
    return ProviderCheck(
        ok=reason is None,
        reason=reason,
        provider_id=provider_id,
        model=str(params.get("model", "")).split("/", 1)[-1],
        latency_ms=round((time.perf_counter() - started) * 1000),
    )


def _file_deployment(
    services: Services, provider_id: str, model: str | None
) -> tuple[dict[str, Any], str | None]:
    """The parameters of a models.yaml deployment of the provider (environment references read),
    or why there is none to call."""
    missing: set[str] = set()
    for entry in services.catalog.models.values():
        for deployment in entry.deployments if entry.source == "file" else ():
            if deployment.provider != provider_id:
                continue
            if not deployment.available:
                missing.update(deployment.missing_env)
                continue
            params = {k: _from_env(v) for k, v in deployment.litellm_params.items()}
            if model is not None:
                prefix, slash, _ = str(params["model"]).partition("/")
                params["model"] = f"{prefix}/{model}" if slash else model
            return params, None
    return {}, "Set " + ", ".join(sorted(missing)) + " in the environment to use this provider."


def _from_env(value: object) -> object:
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        return os.environ.get(value.removeprefix(ENV_PREFIX), "")
    return value
