"""HAL JSON: resources with `_links.self`, collections under `_embedded` with paging links, and
the wire models that describe them in /openapi.json."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.alias_generators import to_camel

from core.listing import MAX_LIMIT, Page, PageRequest

T = TypeVar("T")
S = TypeVar("S", bound=BaseModel)
I = TypeVar("I")  # noqa: E741


class Wire(BaseModel):
    """Base of the response models: camelCase on the wire; a field a route adds that the model
    does not name passes through (response models describe, they never drop a field)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class ErrorBody(Wire):
    """Every 4xx/5xx body (api.errors)."""

    code: str
    message: str
    details: dict[str, Any]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (("4XX", "Client error"), ("5XX", "Server error"))
}


class Link(Wire):
    """A HAL link."""

    href: str


Links = Annotated[dict[str, Link], Field(alias="_links")]


class Linked(Wire):
    """A body with only its links."""

    links: Links


@cache
def wire_of(schema: type[BaseModel], name: str | None = None) -> type[Wire]:
    """A schema as it is on the wire: its fields under their wire names, all present (the body is
    a full dump), without its input constraints."""
    fields: dict[str, Any] = {
        field: (info.annotation, Field(alias=info.serialization_alias or info.alias or field))
        for field, info in schema.model_fields.items()
    }
    title = name or schema.__name__.removesuffix("Read")
    return create_model(title, __base__=Wire, __doc__=schema.__doc__, **fields)


@cache
def resource_of(schema: type[BaseModel]) -> type[Wire]:
    """The response model of `resource(schema(...))`: the schema on the wire, then `_links`."""
    name = schema.__name__.removesuffix("Read") + "Resource"
    links = (dict[str, Link], Field(alias="_links"))
    base = wire_of(schema, name + "Fields")
    return create_model(name, __base__=base, __doc__=schema.__doc__, links=links)


_titles: dict[str, tuple[str, Any]] = {}


@cache
def collection_of(key: str, item: type[BaseModel] | Any, title: str | None = None) -> type[Wire]:
    """The response model of `collection(key, ...)` / `whole(key, ...)`: `_embedded.<key>` a list
    of `item` (a schema is taken as its resource), total, start, limit and `_links`."""
    if isinstance(item, type) and issubclass(item, BaseModel) and not issubclass(item, Wire):
        item = resource_of(item)
    title = title or key[:1].upper() + key[1:]
    if _titles.setdefault(title, (key, item)) != (key, item):
        raise ValueError(f"Two collections named {title!r}: give one a title.")
    items: dict[str, Any] = {key: (list[item], Field(alias=key))}  # type: ignore[valid-type]
    embedded = create_model(f"{title}Embedded", __base__=Wire, **items)
    return create_model(
        f"{title}Collection",
        __base__=Wire,
        __doc__=f"A page of {key}.",
        embedded=(embedded, Field(alias="_embedded")),
        total=(int, ...),
        start=(int, ...),
        limit=(int, ...),
        links=(dict[str, Link], Field(alias="_links")),
    )


class Resource(dict[str, Any], Generic[S]):
    """A resource of schema S as a route returns it: S's fields in camelCase, then `_links`.
    A dict at run time (FastAPI validates it into the route's response model,
    `resource_of(S)`), typed by its schema for the checker."""


class Collection(dict[str, Any], Generic[I]):
    """A page of items I under `_embedded.<key>`, with total, start, limit and `_links`
    (`collection_of(key, ...)` describes it in /openapi.json)."""


def _links(links: dict[str, str]) -> dict[str, dict[str, str]]:
    return {rel: {"href": href} for rel, href in links.items()}


def resource(model: S, self_href: str, **links: str) -> Resource[S]:
    """A resource in camelCase with its links."""
    body: Resource[S] = Resource(model.model_dump(mode="json", by_alias=True))
    body["_links"] = _links({"self": self_href, **links})
    return body


def collection(
    name: str,
    href: str,
    page: Page[T],
    render: Callable[[T], I],
    params: dict[str, Any] | None = None,
) -> Collection[I]:
    """A page of a collection: items, total, start, limit and self/next/prev links."""
    base = {k: v for k, v in (params or {}).items() if v is not None}

    def link(start: int) -> str:
        return href + "?" + urlencode({**base, "start": start, "limit": page.limit})

    links = {"self": link(page.start)}
    if page.start + page.limit < page.total:
        links["next"] = link(page.start + page.limit)
    if page.start > 0:
        links["prev"] = link(max(0, page.start - page.limit))
    return Collection(
        _embedded={name: [render(item) for item in page.items]},
        total=page.total,
        start=page.start,
        limit=page.limit,
        _links=_links(links),
    )


def whole(name: str, href: str, items: Iterable[I]) -> Collection[I]:
    """A small collection returned whole."""
    rendered = list(items)
    return Collection(
        _embedded={name: rendered},
        total=len(rendered),
        start=0,
        limit=len(rendered),
        _links=_links({"self": href}),
    )


def page_request(
    q: Annotated[str | None, Query(max_length=200)] = None,
    sort: Annotated[str | None, Query(max_length=50, pattern=r"^-?[A-Za-z]+$")] = None,
    start: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> PageRequest:
    """The list parameters every collection route takes."""
    return PageRequest(start=start, limit=limit, sort=sort, q=q)


def api_router(*, operation_prefix: str = "", **options: Any) -> APIRouter:
    """A router of the JSON API: every operation declares the error body for 4xx and 5xx, and
    its operationId is its function's name (after `operation_prefix`, where two modules share
    names), so generated clients get readable names."""

    def operation_id(route: APIRoute) -> str:
        return operation_prefix + route.name

    return APIRouter(responses=ERROR_RESPONSES, generate_unique_id_function=operation_id, **options)
