"""`api.exact_routes`: a request for an exact path goes straight to the route the router picks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from starlette.types import Message, Receive, Scope, Send

from api.app import create_app
from api.exact_routes import ExactRoutes, exact_paths, picked_route
from tests.support import app_settings, make_catalog

pytestmark = pytest.mark.anyio


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _ignore(message: Message) -> None:
    pass


def _request(path: str, method: str) -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }


def _recorder(seen: list[dict[str, Any]]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append({**scope, "fastapi": dict(scope["fastapi"])})

    return app


def _record_every_route(app: FastAPI, seen: list[dict[str, Any]]) -> None:
    for top in app.router.routes:
        for context in getattr(top, "effective_candidates", list)():
            context.app = _recorder(seen)


async def test_every_exact_route_gets_the_scope_the_router_would_have_given_it(
    tmp_path: Path,
) -> None:
    app = create_app(app_settings(tmp_path), catalog=make_catalog("http://127.0.0.1:9/v1"))
    exact = app.router.middleware_stack
    assert isinstance(exact, ExactRoutes)
    paths = exact_paths(app.router)
    assert len(paths) > 50  # every route without path parameters
    seen: list[dict[str, Any]] = []
    _record_every_route(app, seen)
    fast = 0
    for path, methods in paths.items():
        for method in sorted(methods):
            await app.router.app(_request(path, method), _receive, _ignore)  # the router's scan
            await exact(_request(path, method), _receive, _ignore)
            scanned, direct = seen[-2:]
            assert direct == scanned, f"{method} {path}"
            fast += picked_route(app.router, path, method) is not None
    assert fast > 50
    for path in ("/v1/chat/completions", "/v1/messages"):
        picked = picked_route(app.router, path, "POST")
        assert picked is not None and picked.context.original_route.path == path


async def test_a_path_an_earlier_route_matches_is_left_to_the_router() -> None:
    first, second = APIRouter(), APIRouter()

    @first.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"item": item_id}

    @second.get("/items/special")
    async def special() -> dict[str, str]:
        return {"item": "special"}

    @second.post("/items/special")
    async def post_special() -> dict[str, str]:
        return {"posted": "special"}

    app = FastAPI()
    app.include_router(first)
    app.include_router(second)
    assert picked_route(app.router, "/items/special", "GET") is None  # /items/{item_id}'s
    assert picked_route(app.router, "/items/special", "POST") is not None
    seen: list[dict[str, Any]] = []
    _record_every_route(app, seen)
    exact = ExactRoutes(app.router)
    await exact(_request("/items/special", "GET"), _receive, _ignore)
    assert seen[-1]["path_params"] == {"item_id": "special"}
    assert seen[-1]["route"].path == "/items/{item_id}"
    await exact(_request("/items/special", "POST"), _receive, _ignore)
    assert seen[-1]["route"].path == "/items/special"
