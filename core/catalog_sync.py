"""Keeping each worker's catalog in step with the providers and models stored in the database.

Every change bumps one version row. Each process polls it (every `catalog_poll_seconds`) and, when
it moved, rebuilds its catalog from models.yaml plus the stored rows, then tells its listeners
(the gateway rebuilds LiteLLM's router). The process that made a change refreshes at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import providers
from core.catalog import (
    Catalog,
    CatalogModel,
    Deployment,
    Price,
    litellm_cost_entry,
    with_stored,
)
from core.models import Provider, StoredModel, TeamModelBlock
from core.sealing import SealedSecretUnreadable, Sealer

log = logging.getLogger(__name__)
KEY_SETTING = "SWITCHBOARD_PROVIDER_SECRET_KEY"


async def load_stored(
    session: AsyncSession, sealer: Sealer
) -> tuple[list[CatalogModel], dict[str, frozenset[str]]]:
    """The stored models as catalog models (keys unsealed), and each model's blocked teams."""
    by_id = {p.id: p for p in await session.scalars(select(Provider))}
    keys: dict[str, str | None] = {}
    unreadable: set[str] = set()
    for provider in by_id.values():
        try:
            keys[provider.id] = providers.api_key(provider, sealer)
        except SealedSecretUnreadable:
            log.warning(
                "cannot unseal the key of provider %s; check %s", provider.name, KEY_SETTING
            )
            unreadable.add(provider.id)
    models = []
    for row in await session.scalars(select(StoredModel).order_by(StoredModel.name)):
        provider = by_id[row.provider_id]
        params = providers.litellm_params(
            provider, model=row.provider_model, key=keys.get(provider.id)
        )
        missing = (KEY_SETTING,) if provider.id in unreadable else ()
        models.append(stored_model(row, Deployment(row.name, params, provider.name, missing)))
    blocks: dict[str, set[str]] = {}
    for block in await session.scalars(select(TeamModelBlock)):
        blocks.setdefault(block.model, set()).add(block.team_id)
    return models, {name: frozenset(teams) for name, teams in blocks.items()}


def stored_model(row: StoredModel, deployment: Deployment) -> CatalogModel:
    """A stored model as the catalog holds it; unset prices and limits come from LiteLLM's
    bundled cost map, as for models.yaml entries."""
    known = litellm_cost_entry(str(deployment.litellm_params["model"]))
    given = (row.input_micros_per_million, row.output_micros_per_million)
    keys = ("input_cost_per_token", "output_cost_per_token")
    costs = [m / 1e12 if m is not None else known.get(k) for m, k in zip(given, keys, strict=True)]
    inp, out = costs
    price = Price(float(inp), float(out)) if inp is not None and out is not None else None
    max_input = row.context_window or known.get("max_input_tokens") or 8192
    max_output = row.max_output_tokens or known.get("max_output_tokens")
    return CatalogModel(
        name=row.name,
        description=row.description,
        deployments=(deployment,),
        price=price,
        max_input_tokens=int(max_input),
        max_output_tokens=int(max_output) if max_output else None,
        aliases=tuple(row.aliases),
        source="database",
        enabled=row.enabled,
    )


class CatalogSync:
    """Rebuilds one process's live catalog when the stored catalog's version moves."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        sessions: async_sessionmaker[AsyncSession],
        sealer: Sealer,
        poll_seconds: float,
    ) -> None:
        self.live = catalog
        self.base = replace(catalog)  # models.yaml alone, to merge the stored rows into
        self.sessions = sessions
        self.sealer = sealer
        self.poll_seconds = poll_seconds
        self.version = -1
        self.listeners: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()

    async def refresh(self) -> bool:
        """Rebuild the catalog if the stored version moved; returns whether it did."""
        async with self._lock:
            async with self.sessions() as session:
                version = await providers.current_version(session)
                if version == self.version:
                    return False
                stored, blocks = await load_stored(session, self.sealer)
            self.live.adopt(with_stored(self.base, stored, blocks))
            self.version = version
            for listener in self.listeners:
                listener()
            log.info("catalog version %s: %s stored models", version, len(stored))
            return True

    async def run(self) -> None:
        """Poll until cancelled; a failed poll is logged and retried at the next tick."""
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("catalog refresh failed; retrying in %ss", self.poll_seconds)
            await asyncio.sleep(self.poll_seconds)
