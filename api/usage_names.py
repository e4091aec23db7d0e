"""Names beside the ids of usage reports: users, teams, API tokens and assistants."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from assistant.models import Assistant
from core.models import ApiToken, Team, User

# A usage dimension → the id and name columns of what it names.
_TABLES: dict[str, tuple[InstrumentedAttribute[Any], InstrumentedAttribute[Any]]] = {
    "user": (User.id, User.username),
    "team": (Team.id, Team.name),
    "apiToken": (ApiToken.id, ApiToken.name),
    "assistant": (Assistant.id, Assistant.name),
}
NAMED = tuple(_TABLES)


async def names_of(
    session: AsyncSession, wanted: Mapping[str, Iterable[str | None]]
) -> dict[str, dict[str, str]]:
    """For each dimension (`user`, `team`, `apiToken`, `assistant`), its ids' names.

    Ids of things since deleted have no name; other dimensions are ignored.
    """
    found: dict[str, dict[str, str]] = {}
    for dimension, ids in wanted.items():
        if dimension not in _TABLES:
            continue
        unique = sorted({i for i in ids if i})
        id_column, name_column = _TABLES[dimension]
        names: dict[str, str] = {}
        for chunk in (unique[i : i + 500] for i in range(0, len(unique), 500)):
            rows = await session.execute(select(id_column, name_column).where(id_column.in_(chunk)))
            names |= {str(row[0]): str(row[1]) for row in rows.all()}
        found[dimension] = names
    return found
