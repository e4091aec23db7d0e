"""Liveness and readiness."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from api.deps import AdminUser, ServicesDep
from api.hal import api_router
from api.responses import METRICS_TEXT, Status

router = api_router(prefix="/api", tags=["Health"])
metrics_router = api_router(tags=["Health"])
PUBLIC_PATHS = {"/api/health", "/api/ready", "/api/auth/login"}


@router.get("/health", response_model=Status)
async def health() -> Status:
    """Liveness: the process answers."""
    return Status(status="ok")


@metrics_router.get("/metrics", response_class=Response, responses=METRICS_TEXT)
async def metrics(_: AdminUser, services: ServicesDep) -> Response:
    """Prometheus metrics (admins' API tokens; point the scraper's bearer token at one)."""
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get(
    "/ready",
    responses={503: {"description": "Shutting down, or the database is not reachable."}},
    response_model=Status,
)
async def ready(request: Request, services: ServicesDep) -> JSONResponse:
    """Readiness: the process is not shutting down and the database answers.

    From SIGTERM on this answers 503 `shutting_down`, so a load balancer stops sending work."""
    if request.app.state.drain.draining:
        body = {
            "code": "shutting_down",
            "message": "This instance is shutting down; send requests to another one.",
            "details": {},
        }
        return JSONResponse(body, status_code=503)
    try:
        async with services.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        body = {"code": "not_ready", "message": "The database is not reachable.", "details": {}}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready"})
