"""Every route handler says what it returns (STYLE 14): a response model, a typed HAL body
(`api.hal.Resource[S]` / `Collection[I]`) or a `Response`, never a free-form dict or `Any`."""

from __future__ import annotations

import importlib
import pkgutil
import types
from collections.abc import Iterator, Mapping
from typing import Any, Union, get_args, get_origin, get_type_hints

from fastapi.routing import APIRoute

import api.routes

FREE_FORM = (dict, Mapping, object)


def _handlers() -> Iterator[tuple[str, Any]]:
    for info in pkgutil.iter_modules(api.routes.__path__):
        module = importlib.import_module(f"api.routes.{info.name}")
        router = getattr(module, "router", None)
        for route in getattr(router, "routes", ()):
            if isinstance(route, APIRoute):
                yield f"{info.name}.{route.endpoint.__name__}", route.endpoint


def _arms(hint: Any) -> list[Any]:
    if get_origin(hint) in (Union, types.UnionType):
        return [arm for member in get_args(hint) for arm in _arms(member)]
    return [hint]


def _free_form(hint: Any) -> bool:
    if hint is Any:
        return True
    bare = get_origin(hint) or hint
    return bare in FREE_FORM


def test_no_route_handler_returns_a_free_form_dict_or_any() -> None:
    handlers = dict(_handlers())
    assert len(handlers) > 150  # the walk found the API's routers
    untyped = []
    for name, endpoint in handlers.items():
        hints = get_type_hints(endpoint)
        if "return" not in hints or any(_free_form(arm) for arm in _arms(hints["return"])):
            untyped.append(f"{name} -> {hints.get('return', 'nothing')}")
    assert untyped == [], "give these their response type: " + ", ".join(untyped)
