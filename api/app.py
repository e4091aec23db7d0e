"""The app factory: settings in, a FastAPI app with every route, error handler and service out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import (
    errors,
    job_actions,
    logs,
    markdown,
    mcp_server,
    telemetry,
    tool_sources,
    v1_errors,
    webhooks,
)
from api.audit_origin import AuditOriginMiddleware
from api.body_limits import BodyLimitMiddleware
from api.metrics import MetricsMiddleware
from api.middleware import RequestIdMiddleware
from api.migrate import migrated
from api.public_url import TrustedProxies
from api.routes import (
    api_tokens,
    assistant_knowledge,
    assistant_secrets,
    assistant_skills,
    assistants,
    audit_events,
    auth,
    budgets,
    chat_answers,
    chat_attachments,
    chat_folders,
    chat_shares,
    chats,
    docs,
    feedback,
    health,
    jobs,
    knowledge,
    library,
    login_sessions,
    mcp_clients,
    mcp_oauth,
    models,
    oidc,
    openai,
    provider_types,
    providers,
    rate_limits,
    search,
    subscriptions,
    team_models,
    teams,
    toolkit_parse_config,
    toolkit_tools,
    toolkits,
    two_factor,
    usage,
    usage_profiles,
    users,
    v1_completions,
    v1_embeddings,
    v1_messages,
    v1_responses,
    web,
)
from api.routes import webhooks as webhook_routes
from api.services import Services
from api.shutdown import Drain, RefuseWhileDraining
from assistant.chat import recovery
from assistant.chat import search as chat_search
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
from core import database, heap, processes
from core import users as user_service
from core.catalog import Catalog, load_catalog
from core.catalog_sync import CatalogSync
from core.database import write_transaction
from core.errors import InvalidSettings
from core.password_policy import WeakPassword
from core.processes import Process
from core.provider_hosts import ProviderHosts
from core.schemas import UserCreate
from core.sealing import Sealer, load_key
from core.settings import Settings, load_settings
from knowledge.documents import ParseLimits
from knowledge.intake import UploadLimits
from knowledge.runtime import Knowledge, KnowledgeConfig
from knowledge.vector_store import VectorStoreConfig

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, catalog: Catalog | None = None) -> FastAPI:
    """Build the app. Settings and the catalog are validated here, so a bad one stops start-up.

    Raises:
        InvalidSettings: a setting or the model catalog cannot be used (the message names it).
    """
    settings = settings or load_settings()
    logs.configure(settings.log_level, settings.log_json)
    catalog = catalog or load_catalog(settings.models)
    logs.keep_secret(logs.secrets_of(settings, catalog))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    services = _services(settings, catalog)
    job_actions.add_action_kinds(services)
    services.catalog_sync.listeners.append(  # providers' keys stored at run time, too
        lambda: logs.keep_secret(logs.secrets_of(settings, catalog))
    )
    mcp = mcp_server.build(services)
    drain = Drain(services.chat, grace_seconds=settings.shutdown_grace_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with migrated(services.engine, settings.resolved_database_url):
            await _bootstrap(services)  # one process at a time: the first makes the admin
        await processes.register(services.sessions, services.process)
        # what a killed predecessor left: `interrupted` first
        await recovery.sweep_once(services.sessions, services.process)
        sweeper = asyncio.create_task(
            recovery.sweep_forever(services.sessions, services.process), name="sweeper"
        )
        sender = asyncio.create_task(webhooks.send_forever(services), name="webhooks")
        starts = None  # PostgreSQL: messages' word starts merged off the write path
        if services.engine.dialect.name == "postgresql":
            starts = asyncio.create_task(chat_search.drain_forever(services.engine), name="starts")
        await services.catalog_sync.refresh()
        catalog_poll = asyncio.create_task(services.catalog_sync.run(), name="catalog poll")
        if services.embeddings is not None:
            services.embeddings.attach(asyncio.get_running_loop())
        services.knowledge.start()
        services.toolkits.start()
        drain.listen()
        heap.freeze_long_lived()  # what start-up made (migrations, token tables) stays
        trimmer = asyncio.create_task(heap.trim_forever(), name="heap trim")
        if settings.warm_start == "start":
            services.gateway.warm_up()  # the first answer does not wait for LiteLLM's import
        try:
            async with mcp.server.session_manager.run():
                yield
        finally:
            drain.stop_listening()
            telemetry.shutdown(app, tracing)
            sweeper.cancel()
            trimmer.cancel()
            if starts is not None:
                starts.cancel()
            sender.cancel()  # an attempt in flight is recorded before it stops
            await asyncio.gather(sender, return_exceptions=True)
            catalog_poll.cancel()
            await services.knowledge.stop()
            await asyncio.to_thread(markdown.shutdown_rendering_workers)
            await services.toolkits.stop()
            await services.chat.shutdown(grace_seconds=10)
            await processes.leave(services.sessions, services.process)
            await services.gateway.close()
            await services.engine.dispose()

    app = FastAPI(
        title="Switchboard",
        version="0.1.0",
        summary="Self-hosted AI assistant and chat platform.",
        lifespan=lifespan,
        docs_url=None,  # api.routes.docs serves /docs under the app's CSP; ReDoc is off
        redoc_url=None,
    )
    app.state.services = services
    app.state.drain = drain
    errors.install(app)
    v1_errors.install(app)  # /v1 paths: OpenAI's error shape (and each dialect's own)
    # Routes are matched in order: the streaming endpoints every model call hits come first.
    for module in (
        openai,
        v1_responses,
        v1_messages,
        v1_completions,
        v1_embeddings,
        chats,
        chat_answers,
        feedback,
        health,
        auth,
        oidc,
        api_tokens,
        two_factor,
        login_sessions,
        users,
        audit_events,
        teams,
        subscriptions,
        budgets,
        usage,
        usage_profiles,
        rate_limits,
        models,
        chat_attachments,
        chat_folders,
        chat_shares,
        assistants,
        assistant_skills,
        assistant_secrets,
        assistant_knowledge,
        library,
        knowledge,
        jobs,
        search,
        providers,
        provider_types,
        team_models,
        toolkit_parse_config,
        toolkit_tools,
        toolkits,
        mcp_server,
        mcp_oauth,
        mcp_clients,
        docs,
        webhook_routes,
        web,
    ):
        app.include_router(module.router)
    app.include_router(health.metrics_router)
    app.mount("/mcp", mcp.app)
    app.mount("/static", web.static_files(), name="static")
    services.metering.observers.append(services.metrics.settled)
    app.add_middleware(BodyLimitMiddleware, settings=settings)  # innermost: after metrics, ids
    app.add_middleware(RefuseWhileDraining, drain=drain)
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(AuditOriginMiddleware)  # after TrustedProxies set the client
    app.add_middleware(TrustedProxies, proxies=settings.trusted_proxies)  # outermost
    tracing = telemetry.configure(app, settings)  # None unless configured
    if tracing is not None:
        services.metering.observers.append(telemetry.usage_observer(tracing))
        telemetry.trace_model_calls(services.gateway, tracing)
    app.state.tracing = tracing
    return app


def _services(settings: Settings, catalog: Catalog) -> Services:
    process = Process()
    engine = database.create_engine(settings.resolved_database_url)
    sessions = database.sessionmaker(engine)
    hosts = ProviderHosts(settings.provider_allowed_hosts)
    hosts.check_catalog(catalog)  # models.yaml's addresses; stored ones are checked on save
    local = LocalEmbeddings(  # knowledge's model and export cache (the litellm/hash ones: onnx)
        backend="torch" if settings.embedding_backend == "torch" else "onnx",
        cache_dir=settings.embedding_cache_dir or settings.data_dir / "models",
    )
    gateway = Gateway(catalog, fast_path=settings.fast_path, hosts=hosts, local=local)
    key = settings.provider_secret_key.get_secret_value()
    catalog_sync = CatalogSync(
        catalog=catalog,
        sessions=sessions,
        sealer=Sealer(
            load_key(
                key,
                settings.data_dir,
                file_name="provider-secret.key",
                setting="SWITCHBOARD_PROVIDER_SECRET_KEY",
            )
        ),
        poll_seconds=settings.catalog_poll_seconds,
    )
    catalog_sync.listeners.append(gateway.reload)
    limits = RateLimits(
        user_requests_per_minute=settings.rate_limit_user_rpm,
        user_tokens_per_minute=settings.rate_limit_user_tpm,
        token_requests_per_minute=settings.rate_limit_token_rpm,
        token_tokens_per_minute=settings.rate_limit_token_tpm,
    )
    metering = Metering(sessions, gateway, limits, process_id=process.id)
    embeddings = None
    if settings.embedding_backend == "litellm":
        embeddings = LitellmEmbedder(
            metering=metering, catalog=catalog, model=settings.embedding_model
        )
    knowledge_objects = _knowledge(settings, sessions, embeddings)
    toolkits = tool_sources.build_toolkits(settings, sessions, knowledge_objects.store)
    chat = ChatEngine(
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
        retriever=knowledge_objects.store,
        tools=ChatTools(toolkits, sessions),
    )
    passthrough = Passthrough(
        catalog=catalog,
        metering=metering,
        default_max_tokens=settings.default_max_tokens,
    )
    v1_embeddings = EmbeddingRequests(
        catalog=catalog,
        metering=metering,
        max_inputs=settings.embedding_max_inputs,
        max_tokens=settings.embedding_max_tokens,
    )
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        catalog=catalog,
        gateway=gateway,
        metering=metering,
        chat=chat,
        passthrough=passthrough,
        v1_embeddings=v1_embeddings,
        knowledge=knowledge_objects,
        toolkits=toolkits,
        catalog_sync=catalog_sync,
        embeddings=embeddings,
        process=process,
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


async def _bootstrap(services: Services) -> None:
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
