"""What a process does between start-up and shutdown: migrate and bootstrap, recover what a
killed predecessor left, run the background loops, and stop them all in order at the end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import FastAPI

from api import markdown, stored_bytes, telemetry, webhooks
from api.assembly import bootstrap
from api.mcp_server import McpMount
from api.migrate import migrated
from api.services import Services
from api.shutdown import Drain
from assistant.chat import recovery
from assistant.chat import search as chat_search
from core import heap, processes

Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]


def lifespan(services: Services, mcp: McpMount, drain: Drain) -> Lifespan:
    """The app's lifespan: set up and start (`_start`), serve, then stop (`_stop`)."""

    @contextlib.asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        loops = await _start(services, drain)
        try:
            async with mcp.server.session_manager.run():
                yield
        finally:
            await _stop(app, services, drain, loops)

    return run


async def _start(services: Services, drain: Drain) -> dict[str, asyncio.Task[None]]:
    """Migrate, bootstrap and recover, then start the background loops (returned by name)."""
    settings = services.settings
    async with migrated(services.engine, settings.resolved_database_url):
        await bootstrap(services)  # one process at a time: the first makes the admin
    await processes.register(services.sessions, services.process)
    # what a killed predecessor left: `interrupted` first
    await recovery.sweep_once(services.sessions, services.process)
    forever: dict[str, Coroutine[Any, Any, None]] = {
        "sweeper": recovery.sweep_forever(services.sessions, services.process),
        "webhooks": webhooks.send_forever(services),
        "stored bytes": stored_bytes.sweep_forever(services),
    }
    if services.engine.dialect.name == "postgresql":  # messages' word starts, off the write path
        forever["starts"] = chat_search.drain_forever(services.engine)
    loops = {name: asyncio.create_task(loop, name=name) for name, loop in forever.items()}
    await services.catalog_sync.refresh()
    loops["catalog poll"] = asyncio.create_task(services.catalog_sync.run(), name="catalog poll")
    if services.embeddings is not None:
        services.embeddings.attach(asyncio.get_running_loop())
    services.knowledge.start()
    services.toolkits.start()
    drain.listen()
    heap.freeze_long_lived()  # what start-up made (migrations, token tables) stays
    loops["heap trim"] = asyncio.create_task(heap.trim_forever(), name="heap trim")
    if settings.warm_start == "start":
        services.gateway.warm_up()  # the first answer does not wait for LiteLLM's import
    return loops


async def _stop(
    app: FastAPI, services: Services, drain: Drain, loops: dict[str, asyncio.Task[None]]
) -> None:
    """Stop taking work, stop the loops, let running answers end, then close the engines."""
    drain.stop_listening()
    telemetry.shutdown(app, app.state.tracing)
    for name in ("sweeper", "heap trim", "starts", "webhooks", "stored bytes"):
        if name in loops:
            loops[name].cancel()
    # a webhook attempt in flight is recorded before it stops
    await asyncio.gather(loops["webhooks"], return_exceptions=True)
    loops["catalog poll"].cancel()
    await services.knowledge.stop()
    await asyncio.to_thread(markdown.shutdown_rendering_workers)
    await services.toolkits.stop()
    await services.chat.shutdown(grace_seconds=10)
    await services.metering.deliveries.stop()
    await processes.leave(services.sessions, services.process)
    await services.gateway.close()
    await services.engine.dispose()
