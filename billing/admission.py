"""Admission: may this caller make this model call, and reserve its worst case if so.

Called before every model call (chat, regenerate, /v1, embeddings, titles, tool loops), in one
short transaction that is committed before the provider is called: seat, usage profile, price,
rate limits, then a hold on every applicable budget. What only an admin changes (seat, profiles,
budgets, limits) comes from `billing.terms`, kept while the identity epoch stands still; counters,
windows and holds are read and written every time. The statements are SQLAlchemy Core on one
connection (`core.database.run_write`): this runs for every call, and the ORM's session and
identity map cost more CPU than the statements themselves (bench/README.md); on PostgreSQL a call
is one statement, rate windows and budgets' holds included (`billing.one_trip`). The returned
reservation carries a lease the streaming worker renews; `billing.ledger.settle` ends it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from billing import budgets, ledger, one_trip, periods, profiles, ratelimits, terms
from billing.errors import (
    BudgetExceeded,
    ModelNotAllowed,
    PriceUnknown,
    ReservationClosed,
    ReservationNotFound,
)
from billing.models import Budget, Reservation
from billing.periods import Period
from billing.ratelimits import NO_LIMITS, UNLIMITED, Headroom, RateLimits
from core import clock
from core.catalog import CatalogModel
from core.database import loaded, run_write
from core.driver_statement import DriverStatement
from core.errors import InvalidInput
from core.ids import new_id

LEASE_SECONDS = 120
RESERVATIONS = cast(Table, Reservation.__table__)
# Built once: a statement object caches its compiled form; building one per call cost more CPU
# than running it.
_INSERT = DriverStatement.insert(RESERVATIONS)
_LEASE = select(RESERVATIONS.c.lease_seconds).where(RESERVATIONS.c.id == bindparam("rid"))
_DELIVERED = RESERVATIONS.c.delivered_tokens
# Delivered tokens only ever go up: to `so_far` when that is more.
_AT_LEAST_SO_FAR = case((bindparam("so_far") > _DELIVERED, bindparam("so_far")), else_=_DELIVERED)
_DELIVER = (
    update(RESERVATIONS)
    .where(RESERVATIONS.c.id == bindparam("rid"), RESERVATIONS.c.state == "open")
    .values(delivered_tokens=_AT_LEAST_SO_FAR)
)
_RENEW = _DELIVER.values(lease_expires_at=bindparam("expires"))


@dataclass(frozen=True, kw_only=True)
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
    also: Callable[[Connection], None] | None = None,
    process_id: str | None = None,
    headroom: Callable[[Headroom], None] | None = None,
) -> Reservation:
    """Admit a model call and reserve its worst case, or refuse it before any provider call.

    `prompt_tokens` is counted with `core.tokens`; `max_output_tokens` is the cap sent to the
    provider. `limits` are the default rate limits from settings. A refusal by a budget first
    releases expired leases (a crashed worker's holds) and tries once more. `also` runs in the
    admission's transaction once the call is admitted (a chat saves its new turn with it: a refused
    call leaves no turn behind). `process_id` names the process making the call
    (`core.processes`): `ledger.release_of` ends its holds when it dies. `headroom` is told what
    the admitted call leaves of the caller's rate limits (for `X-RateLimit-*` headers).

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
        caller=caller,
        model=model,
        prompt_tokens=prompt_tokens,
        max_output_tokens=max_output_tokens,
        source=source,
        limits=limits,
        lease_seconds=lease_seconds,
        also=also,
        process_id=process_id,
        headroom=headroom,
    )
    if also is None and factory.kw["bind"].dialect.name == "postgresql":
        admitted = await attempt.in_one_trip(factory.kw["bind"])
        if admitted is not None:
            return admitted
    try:
        return await attempt.run(factory)
    except BudgetExceeded:
        if await ledger.release_expired(factory) == 0:
            raise
        return await attempt.run(factory)


@dataclass(frozen=True, kw_only=True)
class _Attempt:
    caller: Caller
    model: CatalogModel
    prompt_tokens: int
    max_output_tokens: int
    source: str
    limits: RateLimits
    lease_seconds: int
    also: Callable[[Connection], None] | None
    process_id: str | None
    headroom: Callable[[Headroom], None] | None = None

    async def run(self, factory: async_sessionmaker[AsyncSession]) -> Reservation:
        return await run_write(factory, self._run)

    async def in_one_trip(self, engine: AsyncEngine) -> Reservation | None:
        """On PostgreSQL, a caller whose terms are kept is admitted in one statement
        (`billing.one_trip`), its rate windows' events and budgets' holds included; None: take
        the ordinary path (terms not kept, the model, a window or a budget looks refused, a
        key's bucket or a budget's period has no row yet, an admission on its keys raced it,
        or the epoch moved)."""
        caller = self.caller
        found = terms.kept(
            engine.sync_engine,
            user_id=caller.user_id,
            team_ids=caller.team_ids,
            api_token_id=caller.api_token_id,
            assistant_id=caller.assistant_id,
            defaults=self.limits,
        )
        if found is None:
            return None
        epoch, kept = found
        try:  # kept terms may be older than the epoch: only the ordinary path refuses
            profiles.check_model(kept.rule, model_names=(self.model.name, *self.model.aliases))
            micros = self._worst_case(kept.budgets)
        except (ModelNotAllowed, PriceUnknown):
            return None
        now = clock.now()
        values = self._reservation(new_id(), self._team(kept.seat_team), micros, [], now)
        left = UNLIMITED
        if kept.rate_keys:
            holds = [_hold_of(budget, now) for budget in kept.budgets]
            keys = sorted(kept.rate_keys, key=lambda k: k.key)
            since = now - ratelimits.WINDOW
            rated = await one_trip.reserve_rated(
                engine, values, epoch=epoch, holds=holds, keys=keys, since=since
            )
            if rated is None:  # a full window, a race, a new bucket: the ordinary path says
                return None
            values["counter_ids"], windows = rated
            tokens = self.prompt_tokens + self.max_output_tokens
            left = ratelimits.headroom_of(keys, windows, tokens=tokens, at=now)
        elif not kept.budgets:
            if not await one_trip.reserve(engine, values, epoch=epoch):
                return None
        else:
            holds = [_hold_of(budget, now) for budget in kept.budgets]
            held = await one_trip.reserve_held(engine, values, epoch=epoch, holds=holds)
            if held is None:  # refused, a new period, or the epoch moved: the ordinary path says
                return None
            values["counter_ids"] = held
        if self.headroom is not None:
            self.headroom(left)
        return loaded(Reservation, values)

    def _team(self, seat_team: str) -> str:
        """The team a call is billed to: the seat's, if it is one of the caller's teams."""
        team_ids = self.caller.team_ids
        return seat_team if seat_team in team_ids or not team_ids else team_ids[0]

    def _run(self, connection: Connection) -> Reservation:
        caller = self.caller
        now = clock.now()
        kept = terms.of(
            connection,
            user_id=caller.user_id,
            team_ids=caller.team_ids,
            api_token_id=caller.api_token_id,
            assistant_id=caller.assistant_id,
            defaults=self.limits,
        )
        seat_team, found = kept.seat_team, kept.budgets
        profiles.check_model(kept.rule, model_names=(self.model.name, *self.model.aliases))
        micros = self._worst_case(found)
        tokens = self.prompt_tokens + self.max_output_tokens
        reservation_id = new_id()
        left = ratelimits.consume(
            connection, keys=kept.rate_keys, tokens=tokens, at=now, reservation_id=reservation_id
        )
        counters = budgets.counters_now(connection, budgets=found, at=now)
        team_id = self._team(seat_team)
        counter_ids = [counter_id for counter_id, _ in counters]
        values = self._reservation(reservation_id, team_id, micros, counter_ids, now)
        _INSERT.execute(connection, values)
        if self.also is not None:
            self.also(connection)
        # Last: a global or team budget's counter is a row every admission and settlement
        # updates; its lock lasts from here to the commit (bench/scaling.py).
        budgets.hold(
            connection, budgets=found, counters=counters, micros=micros, tokens=tokens, at=now
        )
        if self.headroom is not None:
            self.headroom(left)
        return loaded(Reservation, values)

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
        return price.worst_case_micros(self.prompt_tokens, self.max_output_tokens)

    def _reservation(
        self, reservation_id: str, team_id: str, micros: int, counter_ids: list[str], now: datetime
    ) -> dict[str, Any]:
        price = self.model.price
        return {
            "id": reservation_id,
            "user_id": self.caller.user_id,
            "team_id": team_id,
            "api_token_id": self.caller.api_token_id,
            "assistant_id": self.caller.assistant_id,
            "model": self.model.name,
            "source": self.source,
            "input_price": price.input_per_token if price else None,
            "output_price": price.output_per_token if price else None,
            "prompt_tokens": self.prompt_tokens,
            "max_output_tokens": self.max_output_tokens,
            "reserved_micros": micros,
            "reserved_tokens": self.prompt_tokens + self.max_output_tokens,
            "counter_ids": counter_ids,
            "delivered_tokens": 0,
            "lease_seconds": self.lease_seconds,
            "lease_expires_at": now + timedelta(seconds=self.lease_seconds),
            "state": "open",
            "created_at": now,
            "settled_at": None,
            "process_id": self.process_id,
        }


def _hold_of(budget: Budget, now: datetime) -> one_trip.Hold:
    """What `billing.one_trip` holds in `budget` (its limits only if hard, as `budgets.hold`)."""
    return one_trip.Hold(
        budget_id=budget.id,
        period_start=periods.start_of(cast(Period, budget.period), now),
        limit_micros=budget.limit_micros if budget.hard else None,
        limit_tokens=budget.limit_tokens if budget.hard else None,
    )


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
    await run_write(factory, _renew, reservation_id, completion_tokens_so_far)


def _renew(connection: Connection, reservation_id: str, delivered_so_far: int) -> None:
    lease = connection.scalar(_LEASE, {"rid": reservation_id})
    if lease is None:
        raise ReservationNotFound(reservation_id=reservation_id)
    expires = clock.now() + timedelta(seconds=lease)
    params = {"rid": reservation_id, "expires": expires, "so_far": delivered_so_far}
    if connection.execute(_RENEW, params).rowcount == 0:
        raise ReservationClosed(reservation_id=reservation_id)


async def record_delivered(
    factory: async_sessionmaker[AsyncSession], *, delivered: Mapping[str, int]
) -> None:
    """Record, in one short transaction of its own, the completion tokens streams of this process
    have delivered so far, by reservation: each only raised, and only while it is open (a settled
    or released one is left as it is). Whoever releases them bills at least that."""
    params = [{"rid": r, "so_far": max(0, n)} for r, n in sorted(delivered.items())]
    if params:
        await run_write(factory, _deliver, params)


def _deliver(connection: Connection, params: list[dict[str, object]]) -> None:
    connection.execute(_DELIVER, params)  # one executemany, rows in id order


async def report_delivered(session: AsyncSession, *, delivered: Mapping[str, int]) -> None:
    """Record, in the caller's transaction, completion tokens delivered by open reservations (the
    text of answers a dead process had saved): whoever releases them bills at least that."""
    for reservation_id, so_far in delivered.items():
        await session.execute(_DELIVER, {"rid": reservation_id, "so_far": max(0, so_far)})
