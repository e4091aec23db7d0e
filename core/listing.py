"""Paged, sorted, searchable lists of rows: the collection parameters every list route takes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from core.errors import InvalidInput

T = TypeVar("T")
MAX_LIMIT = 500


@dataclass(frozen=True)
class PageRequest:
    """`q`, `sort`, `start` and `limit` of a list request."""

    start: int = 0
    limit: int = 50
    sort: str | None = None
    q: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a collection and the size of the whole."""

    items: Sequence[T]
    total: int
    start: int
    limit: int


def like_pattern(text: str) -> str:
    """A LIKE pattern that finds `text` literally anywhere (escape character `\\`)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def contains_text(
    column: InstrumentedAttribute[Any] | ColumnElement[Any], text: str
) -> ColumnElement[bool]:
    """True where `column` holds `text` literally, ignoring case (`%` and `_` are not wildcards)."""
    return column.ilike(like_pattern(text), escape="\\")


class InvalidSort(InvalidInput):
    """That sort field is not supported; use one of the listed fields, with - for descending."""

    code = "invalid_sort"


async def paginate(
    session: AsyncSession,
    stmt: Select[T],
    page: PageRequest,
    *,
    sortable: Mapping[str, InstrumentedAttribute[Any]],
    searchable: Sequence[InstrumentedAttribute[Any]] = (),
    default_sort: str = "-createdAt",
) -> Page[T]:
    """Run a select as one page, applying search and sort.

    Raises:
        InvalidSort: the sort names a field not in `sortable`.
    """
    if page.q and searchable:
        stmt = stmt.where(or_(*(contains_text(col, page.q) for col in searchable)))
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    sort = page.sort or default_sort
    field = sort.lstrip("-")
    column = sortable.get(field)
    if column is None:
        raise InvalidSort(sort=sort, allowed=sorted(sortable))
    ordered = column.desc() if sort.startswith("-") else column.asc()
    rows = await session.scalars(stmt.order_by(ordered).offset(page.start).limit(page.limit))
    return Page(items=list(rows), total=int(total or 0), start=page.start, limit=page.limit)
