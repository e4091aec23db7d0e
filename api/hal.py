"""HAL JSON: resources with `_links.self`, collections under `_embedded` with paging links."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Query
from pydantic import BaseModel

from core.listing import MAX_LIMIT, Page, PageRequest

T = TypeVar("T")


def resource(model: BaseModel, self_href: str, **links: str) -> dict[str, Any]:
    """A resource in camelCase with its links."""
    body = model.model_dump(mode="json", by_alias=True)
    body["_links"] = {"self": {"href": self_href}, **{k: {"href": v} for k, v in links.items()}}
    return body


def collection(
    name: str,
    href: str,
    page: Page[T],
    render: Callable[[T], dict[str, Any]],
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A page of a collection: items, total, start, limit and self/next/prev links."""
    base = {k: v for k, v in (params or {}).items() if v is not None}

    def link(start: int) -> dict[str, str]:
        return {"href": href + "?" + urlencode({**base, "start": start, "limit": page.limit})}

    links = {"self": link(page.start)}
    if page.start + page.limit < page.total:
        links["next"] = link(page.start + page.limit)
    if page.start > 0:
        links["prev"] = link(max(0, page.start - page.limit))
    return {
        "_embedded": {name: [render(item) for item in page.items]},
        "total": page.total,
        "start": page.start,
        "limit": page.limit,
        "_links": links,
    }


def whole(name: str, href: str, items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A small collection returned whole."""
    rendered = list(items)
    return {
        "_embedded": {name: rendered},
        "total": len(rendered),
        "start": 0,
        "limit": len(rendered),
        "_links": {"self": {"href": href}},
    }


def page_request(
    q: Annotated[str | None, Query(max_length=200)] = None,
    sort: Annotated[str | None, Query(max_length=50, pattern=r"^-?[A-Za-z]+$")] = None,
    start: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> PageRequest:
    """The list parameters every collection route takes."""
    return PageRequest(start=start, limit=limit, sort=sort, q=q)
