"""Settlement: every admitted request ends in exactly one terminal ledger row.

Closing a reservation is a conditional update on its state, so a settle racing another settle or a
lease expiry happens once; the ledger's unique reservation id backs that up. Settlement replaces the
reservation's hold on each counter with the actual cost, in counter-id order like admission.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import alerts, ratelimits
from billing.errors import ReservationNotFound
from billing.models import BudgetCounter, LedgerEntry, Reservation
from core import clock
from core.catalog import Price
from core.database import write_transaction

Outcome = Literal["completed", "cancelled", "failed", "interrupted"]
RELEASE_BATCH = 200


async def settle(
    factory: async_sessionmaker[AsyncSession],
    *,
    reservation_id: str,
    outcome: Outcome,
    prompt_tokens: int,
    completion_tokens: int,
    estimated: bool,
) -> LedgerEntry:
    """Bill an admitted request and release its reservation, in one short transaction.

    `estimated` marks token counts made with tiktoken because the provider gave none. A cancelled
    request is billed at least the completion tokens reported delivered through `renew_lease`.
    Settling again returns the first row unchanged.

    Raises:
        ReservationNotFound: no request was admitted under that id.
    """
    async with write_transaction(factory) as session:
        reservation = await _close(session, reservation_id, outcome)
        if reservation is None:
            return await _entry_of(session, reservation_id)
        return await _record(
            session,
            reservation,
            outcome,
            max(0, prompt_tokens),
            max(0, completion_tokens),
            estimated,
        )


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
                .where(Reservation.state == "open", Reservation.lease_expires_at < now)
                .order_by(Reservation.lease_expires_at)
                .limit(RELEASE_BATCH)
            )
        )
    released = 0
    for reservation_id in expired:
        async with write_transaction(factory) as session:
            still_expired = Reservation.lease_expires_at < now
            reservation = await _close(session, reservation_id, "interrupted", still_expired)
            if reservation is None:
                continue
            await _record(
                session, reservation, "interrupted", reservation.prompt_tokens, 0, estimated=True
            )
            released += 1
    return released


async def get_entry(session: AsyncSession, *, reservation_id: str) -> LedgerEntry | None:
    """The terminal row of a request, or None while it is still open."""
    return await session.scalar(
        select(LedgerEntry).where(LedgerEntry.reservation_id == reservation_id)
    )


async def open_reservations(
    session: AsyncSession, *, user_id: str | None = None
) -> Sequence[Reservation]:
    """Reservations not yet settled, oldest first."""
    stmt = select(Reservation).where(Reservation.state == "open").order_by(Reservation.created_at)
    if user_id is not None:
        stmt = stmt.where(Reservation.user_id == user_id)
    return list(await session.scalars(stmt))


async def _close(
    session: AsyncSession, reservation_id: str, outcome: str, *also: ColumnElement[bool]
) -> Reservation | None:
    # One statement: the conditional update returns the closed row (SQLite ≥ 3.35, PostgreSQL).
    closed = await session.scalars(
        update(Reservation)
        .where(Reservation.id == reservation_id, Reservation.state == "open", *also)
        .values(state=outcome, settled_at=clock.now())
        .returning(Reservation)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return closed.one_or_none()


async def _entry_of(session: AsyncSession, reservation_id: str) -> LedgerEntry:
    entry = await get_entry(session, reservation_id=reservation_id)
    if entry is None:
        raise ReservationNotFound(reservation_id=reservation_id)
    return entry


def _cost(reservation: Reservation, prompt_tokens: int, completion_tokens: int) -> int:
    if reservation.input_price is None or reservation.output_price is None:
        return 0
    price = Price(reservation.input_price, reservation.output_price)
    return price.cost_micros(prompt_tokens, completion_tokens)


async def _record(
    session: AsyncSession,
    reservation: Reservation,
    outcome: str,
    prompt_tokens: int,
    completion_tokens: int,
    estimated: bool,
) -> LedgerEntry:
    if outcome in ("cancelled", "interrupted"):
        completion_tokens = max(completion_tokens, reservation.delivered_tokens)
    cost = _cost(reservation, prompt_tokens, completion_tokens)
    tokens = prompt_tokens + completion_tokens
    for counter_id in sorted(reservation.counter_ids):
        await session.execute(
            update(BudgetCounter)
            .where(BudgetCounter.id == counter_id)
            .values(
                reserved_micros=BudgetCounter.reserved_micros - reservation.reserved_micros,
                reserved_tokens=BudgetCounter.reserved_tokens - reservation.reserved_tokens,
                spent_micros=BudgetCounter.spent_micros + cost,
                spent_tokens=BudgetCounter.spent_tokens + tokens,
            )
            .execution_options(synchronize_session=False)
        )
    await ratelimits.settle_tokens(session, reservation_id=reservation.id, tokens=tokens)
    await alerts.record_crossings(session, counter_ids=reservation.counter_ids)
    entry = LedgerEntry(
        reservation_id=reservation.id,
        outcome=outcome,
        model=reservation.model,
        user_id=reservation.user_id,
        team_id=reservation.team_id,
        api_token_id=reservation.api_token_id,
        assistant_id=reservation.assistant_id,
        source=reservation.source,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_micros=cost,
        reserved_micros=reservation.reserved_micros,
        estimated=estimated,
        admitted_at=reservation.created_at,
        created_at=clock.now(),
    )
    session.add(entry)
    await session.flush()
    return entry
