"""Providers admins set up at run time: a LiteLLM type, an address and sealed credentials.

Every change bumps the catalog version in the same transaction, so each worker rebuilds its
catalog and router when it next polls (see `core.catalog_sync`).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, ids
from core.catalog_schemas import NEEDS_API_BASE, ProviderCreate, ProviderUpdate
from core.clock import now
from core.errors import Conflict, InvalidInput, NotFound
from core.models import CatalogVersion, Provider, StoredModel
from core.provider_hosts import ProviderHosts
from core.sealing import Sealer

# LiteLLM's model prefix for each provider type, where it differs from the type.
LITELLM_PREFIX = {"openai-compatible": "openai"}


class ProviderNotFound(NotFound):
    """No provider has that id."""

    code = "provider_not_found"


class ProviderNameTaken(Conflict):
    """A provider of that name exists; pick another name."""

    code = "provider_name_taken"


class ProviderInUse(Conflict):
    """Models still use that provider; delete or move them first."""

    code = "provider_in_use"


class ProviderReadOnly(Conflict):
    """That provider comes from models.yaml and is read-only here; edit the file instead."""

    code = "provider_read_only"


class ApiBaseRequired(InvalidInput):
    """That type of provider needs an apiBase: the address of its server."""

    code = "api_base_required"


class TestModelRequired(InvalidInput):
    """Name the provider-side `model` to test with: the provider has no models yet."""

    code = "test_model_required"


async def bump_version(session: AsyncSession) -> None:
    """Mark the stored catalog changed; every worker reloads it when it next polls."""
    await session.execute(
        sql_update(CatalogVersion)
        .where(CatalogVersion.id == 1)
        .values(version=CatalogVersion.version + 1, updated_at=now())
    )


async def current_version(session: AsyncSession) -> int:
    """The stored catalog's version number."""
    version = await session.scalar(select(CatalogVersion.version).where(CatalogVersion.id == 1))
    return int(version or 0)


async def create(
    session: AsyncSession,
    *,
    data: ProviderCreate,
    sealer: Sealer,
    actor_id: str,
    hosts: ProviderHosts,
) -> Provider:
    """Add a provider, its key sealed.

    Raises:
        ApiBaseRequired: the type needs an apiBase and none was given.
        ProviderAddressBlocked: the apiBase is a link-local or cloud metadata address.
        ProviderNameTaken: a provider of that name exists.
    """
    if data.type in NEEDS_API_BASE and not data.api_base:
        raise ApiBaseRequired(type=data.type)
    if data.api_base:
        await hosts.check(data.api_base)
    await _check_name_free(session, data.name)
    provider = Provider(
        id=ids.new_id(),
        name=data.name,
        type=data.type,
        api_base=data.api_base,
        options={"api_version": data.api_version} if data.api_version else {},
        created_by=actor_id,
        updated_by=actor_id,
    )
    _set_key(provider, data.api_key, sealer)
    try:
        async with session.begin_nested():
            session.add(provider)
    except IntegrityError:
        raise ProviderNameTaken(name=data.name) from None
    await bump_version(session)
    if data.api_key is not None:
        await _audit_key(session, provider, actor_id, "set")
    return provider


async def _audit_key(session: AsyncSession, provider: Provider, actor_id: str, what: str) -> None:
    """A provider's key changed: `secret.changed` in the audit log (never the key)."""
    await audit.record(
        session,
        kind="secret.changed",
        actor_id=actor_id,
        subject_type="provider",
        subject_id=provider.id,
        details={"providerName": provider.name, "secretName": "apiKey", "change": what},
    )


async def get(session: AsyncSession, *, provider_id: str) -> Provider:
    """A provider by id.

    Raises:
        ProviderNotFound: no provider has that id.
    """
    provider = await session.get(Provider, provider_id)
    if provider is None:
        raise ProviderNotFound(provider=provider_id)
    return provider


async def list_all(session: AsyncSession) -> list[Provider]:
    """Every stored provider, by name."""
    return list(await session.scalars(select(Provider).order_by(Provider.name)))


async def model_names(session: AsyncSession) -> dict[str, list[str]]:
    """The names of the stored models of each provider, by provider id."""
    rows = await session.execute(
        select(StoredModel.provider_id, StoredModel.name).order_by(StoredModel.name)
    )
    found: dict[str, list[str]] = {}
    for provider_id, name in rows:
        found.setdefault(provider_id, []).append(name)
    return found


async def update(
    session: AsyncSession,
    *,
    provider: Provider,
    data: ProviderUpdate,
    sealer: Sealer,
    actor_id: str,
    hosts: ProviderHosts,
) -> Provider:
    """Change a provider; `apiKey: null` removes its key, an omitted one keeps it.

    Raises:
        ApiBaseRequired: the type would need an apiBase it would not have.
        ProviderAddressBlocked: the new apiBase is a link-local or cloud metadata address.
        ProviderNameTaken: another provider has the new name.
    """
    given = data.model_fields_set
    if data.api_base:
        await hosts.check(data.api_base)
    if data.name is not None and data.name != provider.name:
        await _check_name_free(session, data.name)
        provider.name = data.name
    if data.type is not None:
        provider.type = data.type
    if "api_base" in given:
        provider.api_base = data.api_base
    if "api_version" in given:
        options = {k: v for k, v in provider.options.items() if k != "api_version"}
        provider.options = options | ({"api_version": data.api_version} if data.api_version else {})
    if provider.type in NEEDS_API_BASE and not provider.api_base:
        raise ApiBaseRequired(type=provider.type)
    if "api_key" in given:
        _set_key(provider, data.api_key, sealer)
    provider.updated_by = actor_id
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise ProviderNameTaken(name=data.name) from None
    await bump_version(session)
    if "api_key" in given:
        await _audit_key(session, provider, actor_id, "removed" if data.api_key is None else "set")
    return provider


async def delete(session: AsyncSession, *, provider: Provider) -> None:
    """Remove a provider no model uses.

    Raises:
        ProviderInUse: stored models still use it.
    """
    names = (await model_names(session)).get(provider.id, [])
    if names:
        raise ProviderInUse(
            f"Models {', '.join(names)} use this provider; delete or move them first.",
            models=names,
        )
    await session.delete(provider)
    await session.flush()
    await bump_version(session)


def api_key(provider: Provider, sealer: Sealer) -> str | None:
    """The provider's key in plain text, for a call (never for a response).

    Raises:
        SealedSecretUnreadable: the provider secret key changed since the key was stored.
    """
    if not provider.sealed_credentials:
        return None
    credentials = json.loads(sealer.open(provider.sealed_credentials, context=provider.id))
    key = credentials.get("api_key")
    return str(key) if key else None


def litellm_params(provider: Provider, *, model: str, key: str | None) -> dict[str, Any]:
    """LiteLLM's `litellm_params` to call `model` (the provider-side id) through a provider."""
    prefix = LITELLM_PREFIX.get(provider.type, provider.type)
    params: dict[str, Any] = {"model": f"{prefix}/{model}", **provider.options}
    if provider.api_base:
        params["api_base"] = provider.api_base
    if key:
        params["api_key"] = key
    elif prefix == "openai":
        params["api_key"] = "none"  # OpenAI's client insists on a key; local servers ignore it
    return params


def _set_key(provider: Provider, key: str | None, sealer: Sealer) -> None:
    if key is None:
        provider.sealed_credentials = None
        return
    provider.sealed_credentials = sealer.seal(json.dumps({"api_key": key}), context=provider.id)


async def _check_name_free(session: AsyncSession, name: str) -> None:
    taken = await session.scalar(
        select(func.count()).select_from(Provider).where(func.lower(Provider.name) == name.lower())
    )
    if taken:
        raise ProviderNameTaken(name=name)


async def test_params(
    session: AsyncSession, *, provider_id: str, model: str | None, sealer: Sealer
) -> dict[str, Any]:
    """LiteLLM's parameters for one test call through a stored provider: `model`, or by default
    the provider's first model by name.

    Raises:
        ProviderNotFound: no such provider.
        TestModelRequired: no `model` was named and the provider has none.
    """
    provider = await get(session, provider_id=provider_id)
    if model is None:
        first = (
            select(StoredModel.provider_model)
            .where(StoredModel.provider_id == provider.id)
            .order_by(StoredModel.name)
            .limit(1)
        )
        model = await session.scalar(first)
    if model is None:
        raise TestModelRequired(provider=provider_id)
    return litellm_params(provider, model=model, key=api_key(provider, sealer))
