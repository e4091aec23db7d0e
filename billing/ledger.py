"""Settlement: every admitted request ends in exactly one terminal ledger row.

Closing a reservation is a conditional update on its state, so a settle racing another settle or a
lease expiry happens once; the ledger's unique reservation id backs that up. Settlement replaces the
reservation's hold on each counter with the actual cost, in counter-id order like admission.
On PostgreSQL a call admitted as `billing.admission.admit` returned it is settled in one statement
(`billing.one_trip`), its counters included; a threshold that statement finds without its alert
is stored after it, in a transaction of its own, as `alerts.record_crossings` always stores them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from billing import alerts, one_trip, ratelimits
from billing.errors import ReservationNotFound
from billing.models import OPEN, BudgetCounter, LedgerEntry, Reservation
from billing.schemas import Outcome as Outcome  # re-exported: callers name ledger.Outcome
from core import clock
from core.catalog import Price
from core.database import loaded, run_write
from core.driver_statement import DriverStatement
from core.ids import new_id

RESERVATIONS = cast(Table, Reservation.__table__)
COUNTERS = cast(Table, BudgetCounter.__table__)
ENTRIES = cast(Table, LedgerEntry.__table__)
# Statements of every settlement, built once (their compiled form is cached on them).
_CLOSE_ANY = (
    update(RESERVATIONS)
    .where(RESERVATIONS.c.id == bindparam("rid"), RESERVATIONS.c.state == "open")
    .values(state=bindparam("outcome"), settled_at=bindparam("at"))
    .returning(*RESERVATIONS.c)
)
_CLOSE = DriverStatement(_CLOSE_ANY)
# A reservation settled with its row as admission returned it: only what changed since, the
# tokens reported delivered, comes back (the whole row cost more to return than to update).
_CLOSE_ADMITTED = DriverStatement(
    update(RESERVATIONS)
    .where(RESERVATIONS.c.id == bindparam("rid"), RESERVATIONS.c.state == "open")
    .values(state=bindparam("outcome"), settled_at=bindparam("at"))
    .returning(RESERVATIONS.c.delivered_tokens)
)
_CLOSE_EXPIRED = _CLOSE_ANY.where(RESERVATIONS.c.lease_expires_at < bindparam("now"))
_ENTRY = select(ENTRIES).where(ENTRIES.c.reservation_id == bindparam("rid"))
_INSERT_ENTRY = DriverStatement.insert(ENTRIES)
_SPEND = (
    update(COUNTERS)
    .where(COUNTERS.c.id == bindparam("cid"))
    .values(
        reserved_micros=COUNTERS.c.reserved_micros - bindparam("held_micros"),
        reserved_tokens=COUNTERS.c.reserved_tokens - bindparam("held_tokens"),
        spent_micros=COUNTERS.c.spent_micros + bindparam("cost"),
        spent_tokens=COUNTERS.c.spent_tokens + bindparam("used"),
    )
)
RELEASE_BATCH = 200
# The prices settlements were billed at, by rates: building one cost more than using it.
_PRICES: dict[tuple[float, float, float | None, float | None], Price] = {}
MAX_PRICES = 1000


@dataclass(frozen=True, kw_only=True)
class CacheUse:
    """Of a call's prompt tokens, those the provider read from and wrote to its prompt cache, and
    the rates they cost (None: the input rate)."""

    read_tokens: int = 0
    write_tokens: int = 0
    read_per_token: float | None = None
    write_per_token: float | None = None


NO_CACHE = CacheUse()


async def settle(
    factory: async_sessionmaker[AsyncSession],
    *,
    reservation_id: str,
    outcome: Outcome,
    prompt_tokens: int,
    completion_tokens: int,
    estimated: bool,
    also: Callable[[Connection, LedgerEntry], None] | None = None,
    cache: CacheUse = NO_CACHE,
    admitted: Reservation | None = None,
) -> LedgerEntry:
    """Bill an admitted request and release its reservation, in one short transaction.

    `estimated` marks token counts made with tiktoken because the provider gave none; `cache`
    prices the prompt tokens the provider's prompt cache served or stored at their own rates.
    A cancelled request is billed at least the completion tokens reported delivered through
    `renew_lease`.
    Settling again returns the first row unchanged. Returns the row (detached). `also` runs in
    the same transaction with the row (the caller's own record of the call, such as a chat answer's
    final state, commits with its bill or not at all). `admitted`, the reservation as admission
    returned it, lets PostgreSQL settle the call in one statement (`billing.one_trip`).

    Raises:
        ReservationNotFound: no request was admitted under that id.
    """
    prompt_tokens, completion_tokens = max(0, prompt_tokens), max(0, completion_tokens)
    if admitted is not None and also is None:
        engine = factory.kw["bind"]
        if engine.dialect.name == "postgresql":
            counted = (prompt_tokens, completion_tokens)
            entry = await _in_one_trip(factory, admitted, outcome, counted, estimated, cache)
            if entry is not None:
                return entry
    return await run_write(
        factory,
        _settle,
        reservation_id,
        outcome,
        prompt_tokens,
        completion_tokens,
        estimated,
        also,
        cache,
        admitted,
    )


async def _in_one_trip(
    factory: async_sessionmaker[AsyncSession],
    admitted: Reservation,
    outcome: Outcome,
    counted: tuple[int, int],
    estimated: bool,
    cache: CacheUse,
) -> LedgerEntry | None:
    """Settle in one statement, or None: not open any more, or billed at least what was
    delivered (cancelled, interrupted), which the ordinary path reads."""
    if outcome in ("cancelled", "interrupted"):
        return None
    prompt_tokens, completion_tokens = counted
    cost = _cost(admitted, prompt_tokens, completion_tokens, cache)
    values = _entry(admitted, outcome, prompt_tokens, completion_tokens, cost, estimated)
    tokens = prompt_tokens + completion_tokens
    engine: AsyncEngine = factory.kw["bind"]
    if not admitted.counter_ids:
        if not await one_trip.settle(engine, values, outcome=outcome, tokens=tokens):
            return None
        return loaded(LedgerEntry, values)
    held = (admitted.reserved_micros, admitted.reserved_tokens)
    standings = await one_trip.settle_held(
        engine,
        values,
        outcome=outcome,
        tokens=tokens,
        counter_ids=sorted(admitted.counter_ids),
        held=held,
    )
    if standings is None:
        return None
    unalerted = [s.counter_id for s in standings if alerts.unrecorded(s)]
    if unalerted:  # a threshold without its alert: stored as the ordinary path stores it
        await run_write(factory, _record_crossings, unalerted)
    return loaded(LedgerEntry, values)


def _record_crossings(connection: Connection, counter_ids: list[str]) -> None:
    alerts.record_crossings(connection, counter_ids=counter_ids)


def _settle(
    connection: Connection,
    reservation_id: str,
    outcome: Outcome,
    prompt_tokens: int,
    completion_tokens: int,
    estimated: bool,
    also: Callable[[Connection, LedgerEntry], None] | None,
    cache: CacheUse,
    admitted: Reservation | None,
) -> LedgerEntry:
    closed = _closed(connection, reservation_id, outcome, admitted)
    if closed is not None:
        reservation, delivered = closed
        counted = ((prompt_tokens, completion_tokens), delivered)
        return _record(connection, reservation, outcome, counted, estimated, cache, also)
    row = connection.execute(_ENTRY, {"rid": reservation_id}).one_or_none()
    if row is None:
        raise ReservationNotFound(reservation_id=reservation_id)
    entry = LedgerEntry(**row._mapping)
    if also is not None:
        also(connection, entry)
    return entry


async def release_expired(factory: async_sessionmaker[AsyncSession]) -> int:
    """Close reservations whose lease ran out (their worker crashed) as `interrupted` rows.

    They are billed their prompt and at least the completion tokens reported delivered. Returns how
    many were released. Safe to run from every worker at once.
    """
    now = clock.now()
    async with factory() as session:
        expired = list(
            await session.scalars(
                select(Reservation.id)
                .where(Reservation.state == OPEN, Reservation.lease_expires_at < now)
                .order_by(Reservation.lease_expires_at)
                .limit(RELEASE_BATCH)
            )
        )
    released = 0
    for reservation_id in expired:
        released += await run_write(factory, _release, reservation_id, now)
    return released


async def release_of(factory: async_sessionmaker[AsyncSession], process_ids: Sequence[str]) -> int:
    """Close the open reservations of processes that died (`core.processes`) as `interrupted`
    rows now, as `release_expired` would once their leases ran out. Returns how many."""
    if not process_ids:
        return 0
    async with factory() as session:
        held = list(
            await session.scalars(
                select(Reservation.id).where(
                    Reservation.state == OPEN, Reservation.process_id.in_(list(process_ids))
                )
            )
        )
    released = 0
    for reservation_id in held:
        released += await run_write(factory, _release, reservation_id, None)
    return released


def _release(connection: Connection, reservation_id: str, now: datetime | None) -> int:
    """Close one reservation as `interrupted` (if its lease ran out before `now`, when given)."""
    reservation = _close(connection, reservation_id, "interrupted", expired_before=now)
    if reservation is None:
        return 0
    counted = ((reservation.prompt_tokens, 0), reservation.delivered_tokens)
    _record(connection, reservation, "interrupted", counted, estimated=True)
    return 1


async def get_entry(session: AsyncSession, *, reservation_id: str) -> LedgerEntry | None:
    """The terminal row of a request, or None while it is still open."""
    return await session.scalar(
        select(LedgerEntry).where(LedgerEntry.reservation_id == reservation_id)
    )


async def open_reservations(
    session: AsyncSession, *, user_id: str | None = None
) -> Sequence[Reservation]:
    """Reservations not yet settled, oldest first."""
    stmt = select(Reservation).where(Reservation.state == OPEN).order_by(Reservation.created_at)
    if user_id is not None:
        stmt = stmt.where(Reservation.user_id == user_id)
    return list(await session.scalars(stmt))


def _closed(
    connection: Connection, reservation_id: str, outcome: str, admitted: Reservation | None
) -> tuple[Row[Any] | Reservation, int] | None:
    """The reservation, closed now, and the tokens it had reported delivered; None if it was not
    open. Given the reservation as admitted (`admitted`), only those tokens come back: nothing
    else of its row changes after admission (on PostgreSQL, `billing.one_trip` settles from it)."""
    if admitted is None or admitted.id != reservation_id:
        row = _close(connection, reservation_id, outcome)
        return None if row is None else (row, row.delivered_tokens)
    params = {"rid": reservation_id, "outcome": outcome, "at": clock.now()}
    returned = _CLOSE_ADMITTED.one_or_none(connection, params)
    return None if returned is None else (admitted, returned.delivered_tokens)


def _close(
    connection: Connection,
    reservation_id: str,
    outcome: str,
    *,
    expired_before: datetime | None = None,
) -> Any:
    """The closed reservation's row (its columns as attributes), or None if it was not open.

    One statement: the conditional update returns the row (SQLite >= 3.35, PostgreSQL), on
    SQLite on the driver's cursor (`core.driver_statement`: through SQLAlchemy the statement cost
    several times SQLite's work, on every settlement). Kept a row: building a Reservation from it
    cost more than the statement."""
    params = {"rid": reservation_id, "outcome": outcome, "at": clock.now()}
    if expired_before is None:
        closed = _CLOSE.one_or_none(connection, params)
    else:
        closed = connection.execute(_CLOSE_EXPIRED, {**params, "now": expired_before}).one_or_none()
    return closed


def _cost(
    reservation: Row[Any] | Reservation, prompt_tokens: int, completion_tokens: int, cache: CacheUse
) -> int:
    input_price, output_price = reservation.input_price, reservation.output_price
    if input_price is None or output_price is None:
        return 0
    key = (input_price, output_price, cache.read_per_token, cache.write_per_token)
    price = _PRICES.get(key)
    if price is None:
        if len(_PRICES) >= MAX_PRICES:
            _PRICES.clear()
        price = _PRICES[key] = Price(*key)
    return price.cost_micros(
        prompt_tokens,
        completion_tokens,
        cache_read_tokens=cache.read_tokens,
        cache_write_tokens=cache.write_tokens,
    )


def _entry(
    reservation: Row[Any] | Reservation,
    outcome: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost: int,
    estimated: bool,
) -> dict[str, Any]:
    """The ledger row's values."""
    return {
        "id": new_id(),
        "reservation_id": reservation.id,
        "outcome": outcome,
        "model": reservation.model,
        "user_id": reservation.user_id,
        "team_id": reservation.team_id,
        "api_token_id": reservation.api_token_id,
        "assistant_id": reservation.assistant_id,
        "source": reservation.source,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_micros": cost,
        "reserved_micros": reservation.reserved_micros,
        "estimated": estimated,
        "admitted_at": reservation.created_at,
        "created_at": clock.now(),
    }


def _record(
    connection: Connection,
    reservation: Row[Any] | Reservation,
    outcome: str,
    counted: tuple[tuple[int, int], int],
    estimated: bool,
    cache: CacheUse = NO_CACHE,
    also: Callable[[Connection, LedgerEntry], None] | None = None,
) -> LedgerEntry:
    """The ledger row (and `also`, the caller's own record), then the budgets' counters: those
    are the rows every settlement updates, so they are locked last, until the commit.
    `counted` is the prompt and completion tokens counted, then the tokens the reservation had
    reported delivered when it was closed (its row's, not `reservation`'s: that may be the row
    as admitted)."""
    (prompt_tokens, completion_tokens), delivered = counted
    if outcome in ("cancelled", "interrupted"):
        completion_tokens = max(completion_tokens, delivered)
    cost = _cost(reservation, prompt_tokens, completion_tokens, cache)
    tokens = prompt_tokens + completion_tokens
    ratelimits.settle_tokens(connection, reservation_id=reservation.id, tokens=tokens)
    values = _entry(reservation, outcome, prompt_tokens, completion_tokens, cost, estimated)
    _INSERT_ENTRY.execute(connection, values)
    entry = loaded(LedgerEntry, values)
    if also is not None:
        also(connection, entry)
    for counter_id in sorted(reservation.counter_ids):
        connection.execute(
            _SPEND,
            {
                "cid": counter_id,
                "held_micros": reservation.reserved_micros,
                "held_tokens": reservation.reserved_tokens,
                "cost": cost,
                "used": tokens,
            },
        )
    alerts.record_crossings(connection, counter_ids=reservation.counter_ids)
    return entry
