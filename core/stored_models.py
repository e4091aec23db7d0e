"""Models admins add at run time, and the models a team's members may not use.

Stored models are merged with models.yaml (`core.catalog.with_stored`); names from the file stay
read-only. Every change bumps the catalog version in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalog import Catalog
from core.catalog_schemas import ModelCreate, ModelUpdate
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Provider, StoredModel, TeamModelBlock
from core.providers import bump_version


class StoredModelNotFound(NotFound):
    """No model of that name was added through the API."""

    code = "model_not_found"


class ModelReadOnly(Conflict):
    """That model comes from models.yaml and is read-only here; edit the file instead."""

    code = "model_read_only"


class ModelNameTaken(Conflict):
    """A model or alias of that name exists; pick another name."""

    code = "model_name_taken"


class UnknownProvider(InvalidInput):
    """No provider has that providerId; GET /api/providers lists them."""

    code = "unknown_provider"


def micros_per_million(dollars_per_million: float | None) -> int | None:
    """US dollars per million tokens as integer micro-dollars per million tokens."""
    return None if dollars_per_million is None else round(dollars_per_million * 1_000_000)


async def create(
    session: AsyncSession, *, data: ModelCreate, catalog: Catalog, actor_id: str
) -> StoredModel:
    """Add a model served through a stored provider.

    Raises:
        UnknownProvider: no provider has that id.
        ModelNameTaken: the name or an alias is already a model or alias.
    """
    await _provider(session, data.provider_id)
    await _check_names_free(session, catalog, [data.name, *data.aliases], own=None)
    model = StoredModel(
        name=data.name,
        provider_id=data.provider_id,
        provider_model=data.model,
        description=data.description,
        aliases=list(dict.fromkeys(data.aliases)),
        input_micros_per_million=micros_per_million(data.input_cost_per_million_tokens),
        output_micros_per_million=micros_per_million(data.output_cost_per_million_tokens),
        context_window=data.context_window,
        max_output_tokens=data.max_output_tokens,
        enabled=data.enabled,
        created_by=actor_id,
        updated_by=actor_id,
    )
    try:
        async with session.begin_nested():
            session.add(model)
    except IntegrityError:
        raise ModelNameTaken(name=data.name) from None
    await bump_version(session)
    return model


async def get(session: AsyncSession, *, name: str) -> StoredModel:
    """A stored model by name.

    Raises:
        StoredModelNotFound: no stored model has that name.
    """
    model = await session.scalar(select(StoredModel).where(StoredModel.name == name))
    if model is None:
        raise StoredModelNotFound(model=name)
    return model


async def list_all(session: AsyncSession) -> list[StoredModel]:
    """Every stored model, by name."""
    return list(await session.scalars(select(StoredModel).order_by(StoredModel.name)))


async def update(
    session: AsyncSession, *, model: StoredModel, data: ModelUpdate, catalog: Catalog, actor_id: str
) -> StoredModel:
    """Change a stored model; omitted fields stay, a price or limit set to null is unset.

    Raises:
        UnknownProvider: no provider has the new providerId.
        ModelNameTaken: a new alias is already a model or alias.
    """
    given = data.model_fields_set
    if data.provider_id is not None:
        model.provider_id = (await _provider(session, data.provider_id)).id
    if data.aliases is not None:
        await _check_names_free(session, catalog, data.aliases, own=model)
        model.aliases = list(dict.fromkeys(data.aliases))
    for field in ("description", "enabled"):
        if getattr(data, field) is not None:
            setattr(model, field, getattr(data, field))
    if data.model is not None:
        model.provider_model = data.model
    if "input_cost_per_million_tokens" in given:
        model.input_micros_per_million = micros_per_million(data.input_cost_per_million_tokens)
    if "output_cost_per_million_tokens" in given:
        model.output_micros_per_million = micros_per_million(data.output_cost_per_million_tokens)
    if "context_window" in given:
        model.context_window = data.context_window
    if "max_output_tokens" in given:
        model.max_output_tokens = data.max_output_tokens
    model.updated_by = actor_id
    await session.flush()
    await bump_version(session)
    return model


async def delete(session: AsyncSession, *, model: StoredModel) -> None:
    """Remove a stored model and the teams' blocks of its name."""
    await session.execute(sql_delete(TeamModelBlock).where(TeamModelBlock.model == model.name))
    await session.delete(model)
    await session.flush()
    await bump_version(session)


async def blocked_models(session: AsyncSession, *, team_id: str) -> set[str]:
    """The names of the models a team's members may not use."""
    rows = await session.scalars(
        select(TeamModelBlock.model).where(TeamModelBlock.team_id == team_id)
    )
    return set(rows)


async def set_team_access(
    session: AsyncSession, *, team_id: str, model: str, allowed: bool, actor_id: str
) -> bool:
    """Let a team's members use a model again, or stop them; returns whether anything changed."""
    found = await session.scalar(
        select(TeamModelBlock).where(
            TeamModelBlock.team_id == team_id, TeamModelBlock.model == model
        )
    )
    if allowed and found is not None:
        await session.delete(found)
    elif not allowed and found is None:
        session.add(TeamModelBlock(team_id=team_id, model=model, created_by=actor_id))
    else:
        return False
    await session.flush()
    await bump_version(session)
    return True


async def _provider(session: AsyncSession, provider_id: str) -> Provider:
    provider = await session.get(Provider, provider_id)
    if provider is None:
        raise UnknownProvider(providerId=provider_id)
    return provider


async def _check_names_free(
    session: AsyncSession, catalog: Catalog, names: Iterable[str], *, own: StoredModel | None
) -> None:
    wanted = list(names)
    if own is not None and own.name in wanted:
        raise ModelNameTaken("An alias cannot be the model's own name.", name=own.name)
    if len(set(wanted)) != len(wanted):
        raise ModelNameTaken("The name and aliases must all differ.", names=wanted)
    taken: set[str] = set()
    for row in await list_all(session):
        if own is None or row.id != own.id:
            taken.update([row.name, *row.aliases])
    for name in wanted:
        model = catalog.models.get(catalog.aliases.get(name, name))
        clash = model is not None and (own is None or model.name != own.name)
        if clash or name in taken:
            raise ModelNameTaken(f"A model or alias named {name!r} exists.", name=name)
