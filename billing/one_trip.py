"""Admission and settlement in one statement each on PostgreSQL, rate limits and budgets included.

A `/v1` stream's admission was BEGIN, the identity epoch, the reservation's INSERT and COMMIT, and
its settlement BEGIN, three statements and COMMIT: nine round trips, each ~0.2-0.4 ms of a
worker's CPU and ~0.1 ms of PostgreSQL's (bench/README.md, "Scaling on PostgreSQL"); with a
global and a team budget, sixteen, and the budgets' counter rows stayed locked from their update
to the COMMIT a round trip later, which queued every worker's admissions behind each other; with a
rate limit, eleven, the keys' bucket rows locked across them. Each is now one statement sent
outside a transaction, which PostgreSQL runs atomically on its own:

- admission inserts the reservation only if the identity epoch is still the one the caller's
  kept terms were read under (`billing.terms.kept`): the same check, in the same snapshot, as
  reading the epoch first in the admission's transaction. Under budgets (`RESERVE_HELD`) it
  first locks their current counters in id order and holds the worst case in all of them only
  if every hard budget has room: all or nothing, exact however many workers race. Under rate
  limits (`RESERVE_RATED`) it first locks the keys' buckets in key order and records the call in
  every window only if each has room and no admission on them committed since the statement's
  snapshot (a raced call tries again, then falls back, rather than count a window it cannot see
  whole);
- settlement closes the reservation if it is open, replaces its rate events' worst case with
  what it used, trades its counters' holds for its cost and inserts its ledger row, in
  data-modifying CTEs: all or nothing, once. It returns where each budget stands, so a
  threshold reached without its alert is stored right after (`alerts.record_crossings`).

Whenever a statement does nothing (the epoch moved, a budget or a window has no room, a
budget's period has no counter or a key no bucket yet, an admission raced it on a key, the
reservation is no longer open), the caller takes the ordinary path, which decides (and refuses)
as before. Chats (whose own rows commit with the bill) and cancellations
(billed at least what was delivered) always take it. SQLite keeps the ordinary path: its
transactions cost no round trip.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.models import BudgetCounter, LedgerEntry, RateBucket, RateEvent, Reservation
from billing.ratelimits import RateKey, Window
from core.ids import new_id
from core.models import AuthEpoch

RESERVATIONS = cast(Table, Reservation.__table__)
ENTRIES = cast(Table, LedgerEntry.__table__)
EVENTS = cast(Table, RateEvent.__table__)
EPOCHS = cast(Table, AuthEpoch.__table__)
COUNTERS = cast(Table, BudgetCounter.__table__)
BUCKETS = cast(Table, RateBucket.__table__)
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


_N = len(_RESERVATION_COLUMNS)
# With budgets: lock the current period's counters in id order (as the ordinary path touches
# them, so neither deadlocks the other); a lock returns a counter's latest committed row, so
# the room check below sees what every earlier admission held. Hold the worst case in every
# counter and insert the reservation only if the epoch stands, every counter exists and every
# hard budget has room: otherwise nothing is written. The reservation's id is NULL, failing the
# whole statement, should fewer counters be updated than were locked (cannot happen under the
# locks; a guard, never a partial hold).
_HELD_VALUES = ", ".join(
    f"coalesce(go.ids, {value})"  # never NULL: its parameter only keeps its place
    if name == "counter_ids"
    else f"CASE WHEN (SELECT count(*) FROM held) = ${_N + 2}::INT THEN {value} END"
    if name == "id"
    else value
    for name, value in zip(_RESERVATION_COLUMNS, _r_values.split(", "), strict=True)
)
RESERVE_HELD = (
    f"WITH want AS (SELECT * FROM json_to_recordset(${_N + 3}::TEXT::JSON) AS w(budget_id "
    "VARCHAR, period_start TIMESTAMPTZ, lm BIGINT, lt BIGINT)), "
    "locked AS (SELECT c.id, c.spent_micros, c.reserved_micros, c.spent_tokens, "
    f"c.reserved_tokens, w.lm, w.lt FROM {COUNTERS.name} c JOIN want w "
    "ON c.budget_id = w.budget_id AND c.period_start = w.period_start "
    "ORDER BY c.id FOR UPDATE OF c), "
    f"go AS (SELECT (SELECT epoch FROM {EPOCHS.name} WHERE id = 1) = ${_N + 1}::BIGINT "
    f"AND count(*) = ${_N + 2}::INT AND coalesce(bool_and("
    f"(lm IS NULL OR spent_micros + reserved_micros + ${_N + 4}::BIGINT <= lm) AND "
    f"(lt IS NULL OR spent_tokens + reserved_tokens + ${_N + 5}::BIGINT <= lt)), false) AS ok, "
    "json_agg(id ORDER BY id) AS ids FROM locked), "
    f"held AS (UPDATE {COUNTERS.name} c SET reserved_micros = c.reserved_micros + "
    f"${_N + 4}::BIGINT, reserved_tokens = c.reserved_tokens + ${_N + 5}::BIGINT "
    "FROM go WHERE go.ok AND c.id IN (SELECT id FROM locked) RETURNING c.id) "
    f"INSERT INTO {RESERVATIONS.name} ({_r_names}) SELECT {_HELD_VALUES} FROM go WHERE go.ok "
    "RETURNING counter_ids"
)
# With counters: as SETTLE, and each counter (locked in id order) trades the reservation's hold
# for what the call cost; the rows say where each counter's budget now stands and which of its
# thresholds already have an alert this period.
SETTLE_HELD = (
    SETTLE.replace(" INSERT INTO", ", entry AS (INSERT INTO", 1) + "), "
    f"locked AS (SELECT id FROM {COUNTERS.name} "
    "WHERE id IN (SELECT json_array_elements_text($%d::TEXT::JSON)) "
    "AND EXISTS (SELECT FROM closed) ORDER BY id FOR UPDATE), "
    f"spent AS (UPDATE {COUNTERS.name} c SET reserved_micros = c.reserved_micros - $%d::BIGINT, "
    "reserved_tokens = c.reserved_tokens - $%d::BIGINT, "
    "spent_micros = c.spent_micros + $%d::BIGINT, spent_tokens = c.spent_tokens + $%d::BIGINT "
    "WHERE c.id IN (SELECT id FROM locked) "
    "RETURNING c.id, c.budget_id, c.period_start, c.spent_micros, c.spent_tokens) "
    "SELECT e.id AS entry_id, s.id AS counter_id, s.spent_micros, s.spent_tokens, "
    "b.id AS budget_id, b.limit_micros, b.limit_tokens, b.hard, b.thresholds, "
    "(SELECT json_agg(a.threshold) FROM billing_usage_alert a WHERE a.budget_id = b.id "
    "AND a.period_start = s.period_start) AS alerted "
    "FROM entry e LEFT JOIN (spent s JOIN billing_budget b ON b.id = s.budget_id) ON true"
) % tuple(range(5 + len(_ENTRY_COLUMNS), 10 + len(_ENTRY_COLUMNS)))

# With rate limits (and budgets, none or some): lock the keys' bucket rows in key order, then the
# counters, as the ordinary path (`ratelimits.consume`, then `budgets.hold`) does. A bucket's lock
# returns its latest row, but the window's events are read in the statement's snapshot, taken
# before the lock was waited for: every admission rewrites its buckets' rows (both paths), so a
# bucket whose locked row is not the one in the snapshot (`xmin`) means an admission committed
# since, and the statement writes nothing. Otherwise, as in the ordinary path under its lock,
# every key's window (events after `since`) must have room for one more request and the
# worst-case tokens; then expired events go, each key gets its event and its bucket a new row.
_BUCKET, _EVENT = BUCKETS.name, EVENTS.name
_RATED_VALUES = _HELD_VALUES.replace(
    "(SELECT count(*) FROM held) = ",
    f"(SELECT count(*) FROM touched) = ${_N + 7}::INT AND (SELECT count(*) FROM held) = ",
)
RATED_TRIES = 3
RESERVE_RATED = (
    f"WITH keys AS (SELECT * FROM json_to_recordset(${_N + 6}::TEXT::JSON) AS k(key VARCHAR, "
    "event_id VARCHAR, rpm BIGINT, tpm BIGINT)), "
    f"seen AS (SELECT b.key, b.xmin::TEXT AS v FROM {_BUCKET} b "
    "WHERE b.key IN (SELECT key FROM keys)), "
    f"gate AS (SELECT b.key, b.xmin::TEXT AS v FROM {_BUCKET} b "
    'WHERE b.key IN (SELECT key FROM keys) ORDER BY b.key COLLATE "C" FOR UPDATE OF b), '
    f"win AS (SELECT k.key, k.rpm, k.tpm, count(e.id) AS n, coalesce(sum(e.tokens), 0) AS used, "
    f"min(e.at) AS first FROM keys k LEFT JOIN {_EVENT} e ON e.key = k.key "
    f"AND e.at > ${_N + 8}::TIMESTAMPTZ GROUP BY k.key, k.rpm, k.tpm), "
    f"want AS (SELECT * FROM json_to_recordset(${_N + 3}::TEXT::JSON) AS w(budget_id "
    "VARCHAR, period_start TIMESTAMPTZ, lm BIGINT, lt BIGINT)), "
    "locked AS (SELECT c.id, c.spent_micros, c.reserved_micros, c.spent_tokens, "
    f"c.reserved_tokens, w.lm, w.lt FROM {COUNTERS.name} c JOIN want w "
    "ON c.budget_id = w.budget_id AND c.period_start = w.period_start "
    "WHERE (SELECT count(*) FROM gate) >= 0 "  # the buckets first
    "ORDER BY c.id FOR UPDATE OF c), "
    "room AS (SELECT count(*) AS n, coalesce(bool_and("
    f"(lm IS NULL OR spent_micros + reserved_micros + ${_N + 4}::BIGINT <= lm) AND "
    f"(lt IS NULL OR spent_tokens + reserved_tokens + ${_N + 5}::BIGINT <= lt)), true) AS ok, "
    "coalesce(json_agg(id ORDER BY id), '[]'::JSON) AS ids FROM locked), "
    "fresh AS (SELECT NOT EXISTS (SELECT FROM gate g JOIN seen s ON s.key = g.key "
    "WHERE s.v <> g.v) AS yes), "
    f"go AS (SELECT (SELECT epoch FROM {EPOCHS.name} WHERE id = 1) = ${_N + 1}::BIGINT "
    f"AND (SELECT count(*) FROM gate) = ${_N + 7}::INT AND (SELECT yes FROM fresh) "
    "AND NOT EXISTS (SELECT FROM win WHERE (rpm IS NOT NULL AND n + 1 > rpm) "
    f"OR (tpm IS NOT NULL AND used + ${_N + 5}::BIGINT > tpm)) "
    f"AND room.n = ${_N + 2}::INT AND room.ok AS ok, room.ids FROM room), "
    f"forgot AS (DELETE FROM {_EVENT} e USING go WHERE go.ok "
    f"AND e.key IN (SELECT key FROM keys) AND e.at <= ${_N + 8}::TIMESTAMPTZ), "
    f"touched AS (UPDATE {_BUCKET} b SET key = b.key FROM go WHERE go.ok "
    "AND b.key IN (SELECT key FROM gate) RETURNING b.key), "
    f"recorded AS (INSERT INTO {_EVENT} (id, key, at, tokens, reservation_id) "
    f"SELECT k.event_id, k.key, ${_N + 9}::TIMESTAMPTZ, ${_N + 5}::BIGINT, $1::VARCHAR "
    "FROM keys k, go WHERE go.ok), "
    f"held AS (UPDATE {COUNTERS.name} c SET reserved_micros = c.reserved_micros + "
    f"${_N + 4}::BIGINT, reserved_tokens = c.reserved_tokens + ${_N + 5}::BIGINT "
    "FROM go WHERE go.ok AND c.id IN (SELECT id FROM locked) RETURNING c.id), "
    f"admitted AS (INSERT INTO {RESERVATIONS.name} ({_r_names}) SELECT {_RATED_VALUES} "
    "FROM go WHERE go.ok RETURNING counter_ids) "
    "SELECT (SELECT yes FROM fresh) AS fresh, a.counter_ids, (SELECT json_agg(json_build_object("
    "'key', key, 'n', n, 'used', used, 'first', first)) FROM win) AS windows "
    "FROM (SELECT) one LEFT JOIN admitted a ON true"
)


@dataclass(frozen=True, kw_only=True)
class Hold:
    """A budget an admission holds room in: its current period and, if hard, its limits."""

    budget_id: str
    period_start: datetime
    limit_micros: int | None
    limit_tokens: int | None


@dataclass(frozen=True, kw_only=True)
class Standing:
    """Where a settled call left one counter's budget, and the thresholds already alerted."""

    counter_id: str
    spent_micros: int
    spent_tokens: int
    limit_micros: int | None
    limit_tokens: int | None
    hard: bool
    thresholds: list[float]
    alerted: list[float]


def _reservation(values: Mapping[str, Any]) -> list[Any]:
    """The reservation's column values in RESERVE's order, JSON columns as text."""
    return [
        json.dumps(values[name]) if name in _JSON_COLUMNS else values[name]
        for name in _RESERVATION_COLUMNS
    ]


def _holds(holds: Sequence[Hold]) -> str:
    """The budgets to hold, as the JSON text the statements read. JSON text, not array
    parameters: asyncpg introspected a VARCHAR[] parameter's type again on every call, three
    round trips more."""
    return json.dumps(
        [
            {
                "budget_id": h.budget_id,
                "period_start": h.period_start.isoformat(),
                "lm": h.limit_micros,
                "lt": h.limit_tokens,
            }
            for h in holds
        ]
    )


async def reserve(engine: AsyncEngine, values: Mapping[str, Any], *, epoch: int) -> bool:
    """Insert the reservation `values` if the identity epoch is still `epoch`; whether it was."""
    args = _reservation(values)
    return await _value(engine, RESERVE, [*args, epoch]) is not None


async def settle(
    engine: AsyncEngine, entry: Mapping[str, Any], *, outcome: str, tokens: int
) -> bool:
    """Close the entry's reservation if it is open, set its rate events to `tokens` and insert
    the ledger row `entry`, all or nothing; whether the reservation was open."""
    head = [entry["reservation_id"], outcome, entry["created_at"], tokens]
    args = [entry[name] for name in _ENTRY_COLUMNS]
    return await _value(engine, SETTLE, [*head, *args]) is not None


async def reserve_held(
    engine: AsyncEngine, values: Mapping[str, Any], *, epoch: int, holds: Sequence[Hold]
) -> list[str] | None:
    """Insert the reservation `values` and hold its worst case in every budget's current counter,
    if the epoch is still `epoch`, every counter exists and every hard budget has room: the
    counter ids held, or None (nothing written)."""
    args = _reservation(values)
    budgets = _holds(holds)
    held = [values["reserved_micros"], values["reserved_tokens"]]
    found = await _value(engine, RESERVE_HELD, [*args, epoch, len(holds), budgets, *held])
    return None if found is None else _listed(found)


async def reserve_rated(
    engine: AsyncEngine,
    values: Mapping[str, Any],
    *,
    epoch: int,
    holds: Sequence[Hold],
    keys: Sequence[RateKey],
    since: datetime,
) -> tuple[list[str], dict[str, Window]] | None:
    """`reserve_held` (any holds, none too) for a call limited on `keys`, whose windows start
    after `since`: if every key's bucket exists, no admission committed on them since this
    statement's snapshot and every window has room, the call's event is recorded in each (at its
    `created_at`): the counter ids held and each key's window before the call, or None (nothing
    written). A statement that an admission on its keys raced is sent again, `RATED_TRIES` in
    all (each a round trip, all cheaper than the ordinary path's 11)."""
    args = _reservation(values)
    budgets = _holds(holds)
    limited = json.dumps(
        [
            {
                "key": k.key,
                "event_id": new_id(),
                "rpm": k.requests_per_minute,
                "tpm": k.tokens_per_minute,
            }
            for k in keys
        ]
    )
    held = [values["reserved_micros"], values["reserved_tokens"]]
    tail = [limited, len(keys), since, values["created_at"]]
    args = [*args, epoch, len(holds), budgets, *held, *tail]
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        for _ in range(RATED_TRIES):  # raced: again, on a newer snapshot
            row = await raw.driver_connection.fetchrow(RESERVE_RATED, *args)  # type: ignore[union-attr]
            if row["counter_ids"] is not None or row["fresh"]:
                break
    if row["counter_ids"] is None:
        return None
    windows = {
        w["key"]: Window(
            w["n"], w["used"], None if w["first"] is None else datetime.fromisoformat(w["first"])
        )
        for w in _listed(row["windows"])
    }
    return _listed(row["counter_ids"]), windows


async def settle_held(
    engine: AsyncEngine,
    entry: Mapping[str, Any],
    *,
    outcome: str,
    tokens: int,
    counter_ids: Sequence[str],
    held: tuple[int, int],
) -> list[Standing] | None:
    """`settle`, and trade the hold `held` (micros, tokens) in each counter for the entry's cost
    and `tokens`: where each counter's budget now stands, or None (the reservation was not
    open; nothing written)."""
    head = [entry["reservation_id"], outcome, entry["created_at"], tokens]
    args = [entry[name] for name in _ENTRY_COLUMNS]
    spend = [json.dumps(list(counter_ids)), *held, entry["cost_micros"], tokens]
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        rows = await raw.driver_connection.fetch(  # type: ignore[union-attr]
            SETTLE_HELD, *head, *args, *spend
        )
    if not rows:
        return None
    return [
        Standing(
            counter_id=row["counter_id"],
            spent_micros=row["spent_micros"],
            spent_tokens=row["spent_tokens"],
            limit_micros=row["limit_micros"],
            limit_tokens=row["limit_tokens"],
            hard=row["hard"],
            thresholds=_listed(row["thresholds"]),
            alerted=_listed(row["alerted"]),
        )
        for row in rows
        if row["counter_id"] is not None
    ]


def _listed(value: Any) -> list[Any]:
    """A JSON array the driver returned (decoded by SQLAlchemy's codec, or text), or NULL."""
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or [])


async def _value(engine: AsyncEngine, sql: str, args: Sequence[Any]) -> Any:
    """The first value of `sql`'s first row, sent on the driver's own connection outside a
    transaction: one round trip (through SQLAlchemy, BEGIN and COMMIT are two more)."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        return await raw.driver_connection.fetchval(sql, *args)  # type: ignore[union-attr]
