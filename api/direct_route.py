"""A route for the hot `/v1` endpoints: a well-formed JSON body skips FastAPI's request handling.

FastAPI reads a body, decodes its JSON, validates it and solves every dependency of every request
(~0.1 ms of CPU a `/v1` stream, bench/README.md). A `DirectRoute` whose endpoint takes one pydantic
body, the caller (`PrincipalDep`) and the services (`ServicesDep`) and returns a `Response`
validates an `application/json` body with one `TypeAdapter.validate_json` and takes the caller
that `api.body_limits` resolved from the headers (or resolves it as the dependency would).
Anything else (another content type, a body that does not validate, dependency overrides) goes
through FastAPI's own handler, so its errors and their shapes are FastAPI's. The endpoint's
signature still describes the route in OpenAPI.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, get_type_hints

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError

from api import deps

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_DEPENDENCIES: dict[Callable[..., Any], str] = {
    deps.get_principal: "principal",
    deps.get_services: "services",
}


class DirectRoute(APIRoute):
    """An `APIRoute` whose handler validates a JSON body in one step (see the module)."""

    def get_route_handler(self) -> Handler:
        full = super().get_route_handler()
        body_name, adapter = _body_of(self)
        names = _dependencies_of(self)
        endpoint = self.dependant.call
        if endpoint is None or not _answers_itself(endpoint):
            raise TypeError(f"{self.path}: a DirectRoute's endpoint returns a Response")

        async def handler(request: Request) -> Response:
            app = request.scope["app"]
            if app.dependency_overrides or not _is_json(request.headers.get("content-type")):
                return await full(request)
            try:
                body = adapter.validate_json(await request.body())
            except ValidationError:
                return await full(request)  # FastAPI states the errors (the body stays read)
            services = app.state.services
            principal = request.scope.get(deps.PRINCIPAL_KEY)
            if principal is None:
                principal = await deps.get_principal(request, services)
            values = {names["principal"]: principal, names["services"]: services}
            response: Response = await endpoint(**{body_name: body}, **values)
            return response

        return handler


def add_direct_route(
    router: APIRouter,
    path: str,
    endpoint: Callable[..., Coroutine[Any, Any, Response]],
    *,
    response_model: type[BaseModel],
    streamed: str,
) -> None:
    """Add a `POST` `DirectRoute` whose endpoint answers `response_model` whole or, streamed,
    `text/event-stream` (`streamed` describes the answer in OpenAPI)."""
    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        response_model=response_model,
        responses={200: {"content": {"text/event-stream": {}}, "description": streamed}},
        route_class_override=DirectRoute,
    )


def _body_of(route: APIRoute) -> tuple[str, TypeAdapter[Any]]:
    params = route.dependant.body_params
    model = params[0].field_info.annotation if len(params) == 1 else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{route.path}: a DirectRoute takes one pydantic model as its body")
    return params[0].name, TypeAdapter(model)


def _dependencies_of(route: APIRoute) -> dict[str, str]:
    """The endpoint's parameter name of each dependency `DirectRoute` supplies."""
    dependant = route.dependant
    names = {
        _DEPENDENCIES[d.call]: d.name
        for d in dependant.dependencies
        if d.call in _DEPENDENCIES and d.name is not None
    }
    others = len(dependant.dependencies) - len(names)
    params = dependant.path_params + dependant.query_params + dependant.header_params
    if len(names) != len(_DEPENDENCIES) or others or params or dependant.cookie_params:
        raise TypeError(f"{route.path}: a DirectRoute's endpoint takes a body, caller and services")
    return names


def _answers_itself(endpoint: Callable[..., Any]) -> bool:
    """Whether the endpoint returns a Response (FastAPI would serialise anything else)."""
    returned = get_type_hints(endpoint).get("return")
    return isinstance(returned, type) and issubclass(returned, Response)


def _is_json(content_type: str | None) -> bool:
    return content_type is not None and content_type.partition(";")[0].strip().lower() == (
        "application/json"
    )
