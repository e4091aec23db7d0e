"""Routing by exact path: a request to a route without path parameters skips the router's scan.

FastAPI's router finds a request's route by trying each included router in turn, each trying its
routes' patterns, then does it again in the router it picked (~10 us of CPU for
`/v1/chat/completions`, ~20 us for `/v1/messages`, the third router), and every wake-up of a
stream walks its five frames. `ExactRoutes` stands where the router's scan starts: a request for
a path and method some route without path parameters has goes straight to the route the router
picks for them (asked of the router's own matching the first time, then remembered), with the
scope the router would have left (`router`, `endpoint`, `path_params`, `route` and FastAPI's own
keys); anything else goes through the router's scan as before. Routes added later are seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import routing
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

# FastAPI's key in the scope and its entries there (fastapi/routing.py): the router include and
# the route that matched. tests/api/test_exact_routes.py checks the scope is the router's own.
_FASTAPI = "fastapi"
_INCLUDED = "included_router"
_CONTEXT = "effective_route_context"


@dataclass(frozen=True)
class Picked:
    """The route the router hands a request for one path and method to."""

    included: Any  # FastAPI's include of the route's router
    context: Any  # the route as included: its ASGI app and endpoint


class ExactRoutes:
    """Hands a request for an exact path straight to its route (see the module)."""

    def __init__(self, router: routing.APIRouter) -> None:
        self.router = router
        self.scan: ASGIApp = router.app
        self._methods: dict[str, frozenset[str]] = {}  # exact path: the methods routes have
        self._picked: dict[tuple[str, str], Picked | None] = {}
        self._built_for = -1  # the number of routes `_methods` was made for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        picked = self._pick(scope) if scope["type"] == "http" else None
        if picked is None:
            await self.scan(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self.router
        scope[_FASTAPI] = {_INCLUDED: picked.included, _CONTEXT: picked.context}
        scope["endpoint"] = picked.context.endpoint
        scope["path_params"] = dict(scope.get("path_params", {}))
        scope["route"] = picked.context.original_route
        await picked.context.app(scope, receive, send)

    def _pick(self, scope: Scope) -> Picked | None:
        if _FASTAPI in scope or scope.get("root_path") or scope.get("fastapi.telemetry"):
            return None  # a mounted app's request, or a traced one: the router does it all
        if len(self.router.routes) != self._built_for:
            self._methods = exact_paths(self.router)
            self._picked.clear()
            self._built_for = len(self.router.routes)
        key = (scope["path"], scope["method"])
        try:
            return self._picked[key]
        except KeyError:
            pass
        if key[1] not in self._methods.get(key[0], ()):
            return None  # no route has this path and method: nothing to remember
        picked = self._picked[key] = picked_route(self.router, *key)
        return picked


def exact_paths(router: routing.APIRouter) -> dict[str, frozenset[str]]:
    """Each path of a route without path parameters in the router's includes, with the methods
    of those routes (none if the router or an include sets form limits: the router does that)."""
    if router.form_limits:
        return {}
    paths: dict[str, frozenset[str]] = {}
    for top in router.routes:
        if not isinstance(top, routing._IncludedRouter) or top.include_context.form_limits:
            continue
        for context in top.effective_candidates():
            if isinstance(context, routing._IncludedRouter):
                continue  # a router included in an included router: left to the scan
            route = context.original_route
            if isinstance(route, routing.APIRoute) and "{" not in context.path:
                methods = paths.get(context.path, frozenset())
                paths[context.path] = methods | (route.methods or set())
    return paths


def picked_route(router: routing.APIRouter, path: str, method: str) -> Picked | None:
    """The included route the router hands a request for `method path` to, if that is a route
    of exactly this path (not one whose parameters match it)."""
    scope: dict[str, Any] = {"type": "http", "path": path, "root_path": "", "method": method}
    for top in router.routes:
        match, _ = top.matches(scope)
        if match == Match.FULL:
            if not isinstance(top, routing._IncludedRouter):
                return None
            full, _, route, context = top._match(scope)
            exact = isinstance(route, routing.APIRoute) and getattr(context, "path", None) == path
            return Picked(top, context) if full == Match.FULL and exact else None
    return None
