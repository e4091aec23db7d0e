"""The app factory: settings in, a FastAPI app with every route, error handler and service out."""

from __future__ import annotations

from types import ModuleType

from fastapi import FastAPI

from api import (
    assembly,
    errors,
    job_actions,
    logs,
    mcp_server,
    telemetry,
    v1_errors,
)
from api.body_limits import BodyLimitMiddleware
from api.lifespan import lifespan
from api.middleware import RequestContext
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
    storage,
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
from core.catalog import Catalog, load_catalog
from core.settings import Settings, load_settings

# Routes are matched in order: the streaming endpoints every model call hits come first.
ROUTES: tuple[ModuleType, ...] = (
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
    storage,
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
)


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
    services = assembly.build_services(settings, catalog)
    job_actions.add_action_kinds(services)
    services.catalog_sync.listeners.append(  # providers' keys stored at run time, too
        lambda: logs.keep_secret(logs.secrets_of(settings, catalog))
    )
    mcp = mcp_server.build(services)
    drain = Drain(services.chat, grace_seconds=settings.shutdown_grace_seconds)
    app = FastAPI(
        title="Switchboard",
        version="0.1.0",
        summary="Self-hosted AI assistant and chat platform.",
        lifespan=lifespan(services, mcp, drain),
        docs_url=None,  # api.routes.docs serves /docs under the app's CSP; ReDoc is off
        redoc_url=None,
    )
    app.state.services = services
    app.state.drain = drain
    errors.install(app)
    v1_errors.install(app)  # /v1 paths: OpenAI's error shape (and each dialect's own)
    for module in ROUTES:
        app.include_router(module.router)
    app.include_router(health.metrics_router)
    app.mount("/mcp", mcp.app)
    app.mount("/static", web.static_files(), name="static")
    services.metering.observers.append(services.metrics.settled)
    _add_middleware(app, services, drain)
    tracing = telemetry.configure(app, settings)  # None unless configured
    if tracing is not None:
        services.metering.observers.append(telemetry.usage_observer(tracing))
        telemetry.trace_model_calls(services.gateway, tracing)
    app.state.tracing = tracing
    return app


def _add_middleware(app: FastAPI, services: Services, drain: Drain) -> None:
    """The middleware, innermost first."""
    settings = services.settings
    app.add_middleware(BodyLimitMiddleware, settings=settings)  # innermost: after metrics, ids
    app.add_middleware(RefuseWhileDraining, drain=drain)
    # Request id, security headers, audit origin, metrics: one layer (each layer costs a stream
    # a frame on every wake-up); after TrustedProxies set the client.
    app.add_middleware(RequestContext, metrics=services.metrics)
    app.add_middleware(TrustedProxies, proxies=settings.trusted_proxies)  # outermost
