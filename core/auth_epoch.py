"""The identity epoch: a number in the database that goes up with every change to who may call.

Workers cache resolved API tokens and login sessions (`api.auth_cache`); an entry is used only
while the epoch it was read under is still the current one, so a token revoked, a user
deactivated, a membership removed or a session logged out through any worker or host is refused by
every other on its next request, not after a timeout. The bump is an UPDATE in the same
transaction as the change, made by the ORM flush hook in `core.models` (and by logout's bulk
delete); reading the epoch is one primary-key lookup per request."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import AuthEpoch

_TABLE = cast(Table, AuthEpoch.__table__)
_READ = select(_TABLE.c.epoch).where(_TABLE.c.id == 1)


async def current(factory: async_sessionmaker[AsyncSession]) -> int:
    """The epoch now (one primary-key lookup on a pooled connection, no ORM session)."""
    async with factory.kw["bind"].connect() as connection:
        return int((await connection.execute(_READ)).scalar_one())
