"""The long-lived objects one app holds: settings, database, catalog, gateway, engines."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.metrics import Metrics
from assistant.chat.engine import ChatEngine
from assistant.gateway.embedder import LitellmEmbedder
from assistant.gateway.embeddings import EmbeddingRequests
from assistant.gateway.metering import Metering
from assistant.gateway.passthrough import Passthrough
from assistant.gateway.router import Gateway
from core.catalog import Catalog
from core.catalog_sync import CatalogSync
from core.oidc import OidcClients
from core.processes import Process
from core.sealing import load_key
from core.settings import Settings
from knowledge.runtime import Knowledge
from toolkits.registry import Toolkits


@dataclass(kw_only=True)
class Services:
    """What routes need, built once by the app factory and kept on `app.state.services`."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    catalog: Catalog
    gateway: Gateway
    metering: Metering
    chat: ChatEngine
    passthrough: Passthrough
    v1_embeddings: EmbeddingRequests
    knowledge: Knowledge
    toolkits: Toolkits
    catalog_sync: CatalogSync  # rebuilds `catalog` and the router when admins change models
    metrics: Metrics = field(default_factory=Metrics)
    embeddings: LitellmEmbedder | None = None  # the litellm embedding backend, when configured
    process: Process = field(default_factory=Process)  # this process, as the database knows it

    @cached_property
    def write_sessions(self) -> async_sessionmaker[AsyncSession]:
        """Sessions for requests that write: on SQLite they take the write lock when they begin."""
        if self.engine.dialect.name != "sqlite":
            return self.sessions
        immediate = self.engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        return async_sessionmaker(immediate, expire_on_commit=False)

    @cached_property
    def oidc(self) -> OidcClients:
        """The OpenID providers people sign in with (`core.oidc`); a started sign-in is sealed
        under the provider secret key, which every worker shares."""
        key = load_key(
            self.settings.provider_secret_key.get_secret_value(),
            self.settings.data_dir,
            file_name="provider-secret.key",
            setting="SWITCHBOARD_PROVIDER_SECRET_KEY",
        )
        return OidcClients(self.settings.oidc_providers, key)
