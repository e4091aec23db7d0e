"""Alembic environment: every package's tables, applied over the async engine.

Each package owns a migration branch labelled with its table prefix (`core`, `assistant`, `billing`,
`knowledge`, `toolkits`). Autogenerate for one package with `-x domain=<label>` so it sees only that
package's tables (see docs/development.md).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from api.tables import metadata
from core.database import UTCDateTime, create_engine

config = context.config
domain = context.get_x_argument(as_dictionary=True).get("domain")


def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if domain and type_ == "table" and name is not None:
        return name.startswith(domain + "_")
    return True


def _render(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations store plain timezone-aware columns; UTCDateTime only adds the zone on load.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        include_object=_include,
        compare_type=True,
        render_item=_render,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as conn:
        await conn.run_sync(_configure)
        await conn.commit()
    await engine.dispose()


# The app passes its own (sync-facing) connection; the alembic command line opens one.
_connection = config.attributes.get("connection")
if _connection is None:
    asyncio.run(_run_async())
else:
    _configure(_connection)
