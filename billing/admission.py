"""Admission: may this caller make this model call, and reserve its worst case if so.

Called before every model call (chat, regenerate, /v1, embeddings, titles, tool loops), in one
short transaction that is committed before the provider is called: seat, usage profile, price,
rate limits, then a hold on every applicable budget. The returned reservation carries a lease the
streaming worker renews; `billing.ledger.settle` ends it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import budgets, ledger, profiles, ratelimits, seats
from billing.errors import BudgetExceeded, PriceUnknown, ReservationClosed, ReservationNotFound
from billing.models import Budget, Reservation
from billing.ratelimits import NO_LIMITS, RateLimits
from core import clock
from core.catalog import CatalogModel
from core.database import write_transaction
from core.errors import InvalidInput
from core.ids import new_id

LEASE_SECONDS = 120


@dataclass(frozen=True)
class Caller:
    """Who a model call is made for: the user, their teams, and the token or assistant used."""

    user_id: str
    team_ids: tuple[str, ...]
    api_token_id: str | None = None
    assistant_id: str | None = None


async def admit(
    factory: async_sessionmaker[AsyncSession],
    *,
    caller: Caller,
    model: CatalogModel,
    prompt_tokens: int,
    max_output_tokens: int,
    source: str,
    limits: RateLimits = NO_LIMITS,
    lease_seconds: int = LEASE_SECONDS,
) -> Reservation:
    """Admit a model call and reserve its worst case, or refuse it before any provider call.

    `prompt_tokens` is counted with `core.tokens`; `max_output_tokens` is the cap sent to the
    provider. `limits` are the default rate limits from settings. A refusal by a budget first
    releases expired leases (a crashed worker's holds) and tries once more.

    Raises:
        SeatRequired: the user has no seat.
        ModelNotAllowed: the caller's usage profile does not allow the model.
        PriceUnknown: the model has no price and a money budget applies.
        RateLimitExceeded: the user or API token is over its per-minute limits.
        BudgetExceeded: a hard budget has no room for the worst case; the error names it.
        InvalidInput: negative token counts.
    """
    if prompt_tokens < 0 or max_output_tokens < 0:
        raise InvalidInput("Token counts cannot be negative.")
    attempt = _Attempt(
        caller, model, prompt_tokens, max_output_tokens, source, limits, lease_seconds
    )
    try:
        return await attempt.run(factory)
    except BudgetExceeded:
        if await ledger.release_expired(factory) == 0:
            raise
        return await attempt.run(factory)


@dataclass(frozen=True)
class _Attempt:
    caller: Caller
    model: CatalogModel
    prompt_tokens: int
    max_output_tokens: int
    source: str
    limits: RateLimits
    lease_seconds: int

    async def run(self, factory: async_sessionmaker[AsyncSession]) -> Reservation:
        caller = self.caller
        async with write_transaction(factory) as session:
            now = clock.now()
            seat = await seats.require_seat(session, user_id=caller.user_id)
            await profiles.check_model(
                session,
                user_id=caller.user_id,
                team_ids=caller.team_ids,
                model_names=(self.model.name, *self.model.aliases),
            )
            found = await budgets.applicable(session, scopes=_scopes(caller))
            micros = self._worst_case(found)
            tokens = self.prompt_tokens + self.max_output_tokens
            reservation_id = new_id()
            keys = await ratelimits.resolve(
                session,
                user_id=caller.user_id,
                team_ids=caller.team_ids,
                api_token_id=caller.api_token_id,
                defaults=self.limits,
            )
            await ratelimits.consume(
                session, keys=keys, tokens=tokens, at=now, reservation_id=reservation_id
            )
            counter_ids = await budgets.reserve(
                session, budgets=found, micros=micros, tokens=tokens, at=now
            )
            team_id = (
                seat.team_id
                if seat.team_id in caller.team_ids or not caller.team_ids
                else (caller.team_ids[0])
            )
            reservation = self._reservation(reservation_id, team_id, micros, counter_ids, now)
            session.add(reservation)
            await session.flush()
            return reservation

    def _worst_case(self, found: Sequence[Budget]) -> int:
        price = self.model.price
        if price is None:
            money = [b for b in found if b.limit_micros is not None]
            if money:
                raise PriceUnknown(
                    f"The model {self.model.name!r} has no price, so it cannot be used under the "
                    f"budget {money[0].name!r}; set input_cost_per_token and output_cost_per_token "
                    "in models.yaml (0 for free models).",
                    model=self.model.name,
                    budget={"id": money[0].id, "name": money[0].name},
                )
            return 0
        return price.cost_micros(self.prompt_tokens, self.max_output_tokens)

    def _reservation(
        self, reservation_id: str, team_id: str, micros: int, counter_ids: list[str], now: datetime
    ) -> Reservation:
        price = self.model.price
        return Reservation(
            id=reservation_id,
            user_id=self.caller.user_id,
            team_id=team_id,
            api_token_id=self.caller.api_token_id,
            assistant_id=self.caller.assistant_id,
            model=self.model.name,
            source=self.source,
            input_price=price.input_per_token if price else None,
            output_price=price.output_per_token if price else None,
            prompt_tokens=self.prompt_tokens,
            max_output_tokens=self.max_output_tokens,
            reserved_micros=micros,
            reserved_tokens=self.prompt_tokens + self.max_output_tokens,
            counter_ids=counter_ids,
            delivered_tokens=0,
            lease_seconds=self.lease_seconds,
            lease_expires_at=now + timedelta(seconds=self.lease_seconds),
            state="open",
            created_at=now,
        )


def _scopes(caller: Caller) -> list[tuple[str, str | None]]:
    scopes: list[tuple[str, str | None]] = [("user", caller.user_id)]
    scopes += [("team", t) for t in caller.team_ids]
    scopes += [("apiToken", caller.api_token_id), ("assistant", caller.assistant_id)]
    return scopes


async def renew_lease(
    factory: async_sessionmaker[AsyncSession], *, reservation_id: str, completion_tokens_so_far: int
) -> None:
    """Extend a streaming request's lease and record what it has delivered so far.

    Call it every few seconds while streaming (not per chunk: on SQLite each call takes the write
    lock). If the worker dies, the lease runs out and `release_expired` bills what was delivered.

    Raises:
        ReservationClosed: the request was settled or released already; stop streaming it.
        ReservationNotFound: no request was admitted under that id.
    """
    async with write_transaction(factory) as session:
        lease = await session.scalar(
            select(Reservation.lease_seconds).where(Reservation.id == reservation_id)
        )
        if lease is None:
            raise ReservationNotFound(reservation_id=reservation_id)
        delivered = Reservation.delivered_tokens
        result = await session.execute(
            update(Reservation)
            .where(Reservation.id == reservation_id, Reservation.state == "open")
            .values(
                lease_expires_at=clock.now() + timedelta(seconds=lease),
                delivered_tokens=case(
                    (delivered < completion_tokens_so_far, completion_tokens_so_far),
                    else_=delivered,
                ),
            )
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], result).rowcount == 0:
            raise ReservationClosed(reservation_id=reservation_id)
