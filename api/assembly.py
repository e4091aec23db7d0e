"""A process's services, built from its settings: the database, the gateway and its metering,
the chat engine, knowledge and toolkits; and, on a new install, the first admin."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import job_actions, tool_sources
from api.services import Services
from assistant.chat.engine import ChatEngine, EngineConfig
from assistant.chat.toolkit_tools import ChatTools
from assistant.gateway.embedder import LitellmEmbedder
from assistant.gateway.embeddings import EmbeddingRequests
from assistant.gateway.metering import Metering
from assistant.gateway.passthrough import Passthrough
from assistant.gateway.router import Gateway
from assistant.gateway.vectors import LocalEmbeddings
from billing import seats
from billing.ratelimits import RateLimits
from core import database
from core import users as user_service
from core.catalog import Catalog
from core.catalog_sync import CatalogSync
from core.database import write_transaction
from core.errors import InvalidSettings
from core.password_policy import WeakPassword
from core.processes import Process
from core.provider_hosts import ProviderHosts
from core.schemas import UserCreate
from core.sealing import Sealer, load_key
from core.settings import Settings
from knowledge.documents import ParseLimits
from knowledge.intake import UploadLimits
from knowledge.runtime import Knowledge, KnowledgeConfig
from knowledge.vector_store import VectorStoreConfig
from toolkits.registry import Toolkits

log = logging.getLogger(__name__)


def build_services(settings: Settings, catalog: Catalog) -> Services:
    """Every long-lived object of one process, wired together; nothing connects or loads yet.

    Raises:
        InvalidCatalog: a deployment of models.yaml points at a link-local or metadata address.
        InvalidSettings: the provider secret key (or its key file) is not 32 bytes of base64.
    """
    process = Process()
    engine = database.create_engine(settings.resolved_database_url)
    sessions = database.sessionmaker(engine)
    gateway = _gateway(settings, catalog)
    catalog_sync = _catalog_sync(settings, catalog, sessions)
    catalog_sync.listeners.append(gateway.reload)
    metering = Metering(
        sessions,
        gateway,
        _rate_limits(settings),
        process_id=process.id,
        report_seconds=settings.checkpoint_seconds,
    )
    embeddings = None
    if settings.embedding_backend == "litellm":
        embeddings = LitellmEmbedder(
            metering=metering, catalog=catalog, model=settings.embedding_model
        )
    knowledge = _knowledge(settings, sessions, embeddings)
    toolkits = tool_sources.build_toolkits(settings, sessions, knowledge.store)
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        catalog=catalog,
        gateway=gateway,
        metering=metering,
        chat=_chat(settings, sessions, catalog, metering, process, knowledge, toolkits),
        passthrough=Passthrough(
            catalog=catalog, metering=metering, default_max_tokens=settings.default_max_tokens
        ),
        v1_embeddings=EmbeddingRequests(
            catalog=catalog,
            metering=metering,
            max_inputs=settings.embedding_max_inputs,
            max_tokens=settings.embedding_max_tokens,
        ),
        knowledge=knowledge,
        toolkits=toolkits,
        catalog_sync=catalog_sync,
        embeddings=embeddings,
        process=process,
    )


def _gateway(settings: Settings, catalog: Catalog) -> Gateway:
    hosts = ProviderHosts(settings.provider_allowed_hosts)
    hosts.check_catalog(catalog)  # models.yaml's addresses; stored ones are checked on save
    local = LocalEmbeddings(  # knowledge's model and export cache (the litellm/hash ones: onnx)
        backend="torch" if settings.embedding_backend == "torch" else "onnx",
        cache_dir=settings.embedding_cache_dir or settings.data_dir / "models",
        idle_seconds=settings.embedding_idle_seconds,
    )
    return Gateway(catalog, fast_path=settings.fast_path, hosts=hosts, local=local)


def _catalog_sync(
    settings: Settings, catalog: Catalog, sessions: async_sessionmaker[AsyncSession]
) -> CatalogSync:
    key = load_key(
        settings.provider_secret_key.get_secret_value(),
        settings.data_dir,
        file_name="provider-secret.key",
        setting="SWITCHBOARD_PROVIDER_SECRET_KEY",
    )
    return CatalogSync(
        catalog=catalog,
        sessions=sessions,
        sealer=Sealer(key),
        poll_seconds=settings.catalog_poll_seconds,
    )


def _rate_limits(settings: Settings) -> RateLimits:
    return RateLimits(
        user_requests_per_minute=settings.rate_limit_user_rpm,
        user_tokens_per_minute=settings.rate_limit_user_tpm,
        token_requests_per_minute=settings.rate_limit_token_rpm,
        token_tokens_per_minute=settings.rate_limit_token_tpm,
    )


def _chat(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    catalog: Catalog,
    metering: Metering,
    process: Process,
    knowledge: Knowledge,
    toolkits: Toolkits,
) -> ChatEngine:
    return ChatEngine(
        factory=sessions,
        catalog=catalog,
        metering=metering,
        config=EngineConfig(
            checkpoint_seconds=settings.checkpoint_seconds,
            default_max_tokens=settings.default_max_tokens,
            keep_seconds=settings.stream_buffer_ttl_seconds,
            max_tool_steps=settings.tool_max_steps,
            approval_seconds=settings.tool_approval_seconds,
            auto_titles=settings.auto_titles,
            process_id=process.id,
            attachments_root=settings.data_dir / "attachments",
        ),
        retriever=knowledge.store,
        tools=ChatTools(toolkits, sessions),
    )


def _knowledge(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    embeddings: LitellmEmbedder | None = None,
) -> Knowledge:
    """The library's objects; the index and embedding model open on first use, not here.

    With the litellm backend, `embeddings` (metered by billing) is the embedder."""
    vectors = VectorStoreConfig(
        data_dir=settings.data_dir,
        qdrant_url=settings.qdrant_url,
        qdrant_api_key=settings.qdrant_api_key.get_secret_value(),
        workers=settings.workers,
        embedding_model=settings.embedding_model,
        embedding_backend=settings.embedding_backend,
        cache_dir=settings.embedding_cache_dir,
        embedding_idle_seconds=settings.embedding_idle_seconds,
    )
    config = KnowledgeConfig(
        vectors=vectors,
        parse_limits=ParseLimits(
            max_bytes=settings.max_upload_bytes,
            max_pages=settings.max_pages,
            max_decompressed_bytes=settings.max_decompressed_bytes,
            max_seconds=settings.max_parse_seconds,
            workers=settings.parse_workers,
        ),
        upload_limits=UploadLimits(
            max_bytes=settings.max_upload_bytes, max_files=settings.max_files_per_upload
        ),
        sync_root=settings.library_sync_root or settings.data_dir / "sync",
        job_poll_seconds=settings.job_poll_seconds,
        job_webhook_url=settings.job_webhook_url,
        mail=job_actions.mail_config(settings),
    )
    factory = (lambda: embeddings) if embeddings is not None else None
    return Knowledge.build(sessions, config, embedder_factory=factory)


async def bootstrap(services: Services) -> None:
    """Create the first admin from settings when there are no users; else say how to make one."""
    settings = services.settings
    async with write_transaction(services.sessions) as session:
        if await user_service.count(session) > 0:
            return
        password = settings.admin_password.get_secret_value()
        if not settings.admin_username or not password:
            log.warning(
                "No users yet. Set SWITCHBOARD_ADMIN_USERNAME and SWITCHBOARD_ADMIN_PASSWORD and "
                "restart, or run: switchboard users create --admin USERNAME"
            )
            return
        data = UserCreate(username=settings.admin_username, password=password, role="admin")
        try:
            admin = await user_service.create(session, data=data)
        except WeakPassword as exc:
            raise InvalidSettings(f"SWITCHBOARD_ADMIN_PASSWORD: {exc.message}") from None
        await seats.grant_bootstrap_seat(session, user_id=admin.id)
        log.info("created the first admin %r", settings.admin_username)
