"""Admission and settlement of a plain call in one statement each on PostgreSQL.

A `/v1` stream's admission was BEGIN, the identity epoch, the reservation's INSERT and COMMIT, and
its settlement BEGIN, three statements and COMMIT: nine round trips, each ~0.2-0.4 ms of a
worker's CPU and ~0.1 ms of PostgreSQL's (bench/README.md, "Scaling on PostgreSQL"). When a call
holds no budget counter and no rate-limit window (the common case), each is one statement sent
outside a transaction, which PostgreSQL runs atomically on its own:

- admission inserts the reservation only if the identity epoch is still the one the caller's
  kept terms were read under (`billing.terms.kept`): the same check, in the same snapshot, as
  reading the epoch first in the admission's transaction;
- settlement closes the reservation if it is open, replaces its rate events' worst case with
  what it used and inserts its ledger row, in data-modifying CTEs: all or nothing, once.

Whenever a statement does nothing (the epoch moved, the reservation is no longer open), the
caller takes the ordinary path, which decides as before. Calls with budgets or rate limits, chats
(whose own rows commit with the bill) and cancellations (billed at least what was delivered)
always take it. SQLite keeps the ordinary path: its transactions cost no round trip.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import JSON, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.models import LedgerEntry, RateEvent, Reservation
from core.models import AuthEpoch

RESERVATIONS = cast(Table, Reservation.__table__)
ENTRIES = cast(Table, LedgerEntry.__table__)
EVENTS = cast(Table, RateEvent.__table__)
EPOCHS = cast(Table, AuthEpoch.__table__)
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _casts(table: Table, first: int) -> tuple[list[str], str, str]:
    """The table's column names, and `$n::TYPE` placeholders for them from `$first` on."""
    names = [column.name for column in table.columns]
    types = [column.type.compile(dialect=_DIALECT) for column in table.columns]
    placeholders = ", ".join(f"${first + i}::{t}" for i, t in enumerate(types))
    return names, ", ".join(names), placeholders


_RESERVATION_COLUMNS, _r_names, _r_values = _casts(RESERVATIONS, 1)
_JSON_COLUMNS = {c.name for c in RESERVATIONS.columns if isinstance(c.type, JSON)}
RESERVE = (
    f"INSERT INTO {RESERVATIONS.name} ({_r_names}) SELECT {_r_values} "
    f"WHERE (SELECT epoch FROM {EPOCHS.name} WHERE id = 1) = "
    f"${len(_RESERVATION_COLUMNS) + 1}::BIGINT RETURNING id"
)
_ENTRY_COLUMNS, _e_names, _e_values = _casts(ENTRIES, 5)
SETTLE = (
    f"WITH closed AS (UPDATE {RESERVATIONS.name} SET state = $2::VARCHAR, "
    "settled_at = $3::TIMESTAMP WITH TIME ZONE "
    "WHERE id = $1::VARCHAR AND state = 'open' RETURNING id), "
    f"rated AS (UPDATE {EVENTS.name} SET tokens = $4::BIGINT "
    "WHERE reservation_id = $1::VARCHAR AND EXISTS (SELECT FROM closed)) "
    f"INSERT INTO {ENTRIES.name} ({_e_names}) SELECT {_e_values} FROM closed RETURNING id"
)


async def reserve(engine: AsyncEngine, values: Mapping[str, Any], *, epoch: int) -> bool:
    """Insert the reservation `values` if the identity epoch is still `epoch`; whether it was."""
    args = [
        json.dumps(values[name]) if name in _JSON_COLUMNS else values[name]
        for name in _RESERVATION_COLUMNS
    ]
    return await _value(engine, RESERVE, [*args, epoch]) is not None


async def settle(
    engine: AsyncEngine, entry: Mapping[str, Any], *, outcome: str, tokens: int
) -> bool:
    """Close the entry's reservation if it is open, set its rate events to `tokens` and insert
    the ledger row `entry`, all or nothing; whether the reservation was open."""
    head = [entry["reservation_id"], outcome, entry["created_at"], tokens]
    args = [entry[name] for name in _ENTRY_COLUMNS]
    return await _value(engine, SETTLE, [*head, *args]) is not None


async def _value(engine: AsyncEngine, sql: str, args: Sequence[Any]) -> Any:
    """The first value of `sql`'s first row, sent on the driver's own connection outside a
    transaction: one round trip (through SQLAlchemy, BEGIN and COMMIT are two more)."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        return await raw.driver_connection.fetchval(sql, *args)  # type: ignore[union-attr]
