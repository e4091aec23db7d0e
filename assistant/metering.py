"""Between model calls and billing: admit before a call, renew while it runs, settle after."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.relay import Usage
from billing import admission, ledger
from billing.admission import Caller
from billing.errors import ReservationClosed
from billing.models import LedgerEntry
from billing.ratelimits import NO_LIMITS, RateLimits
from core.catalog import CatalogModel

# Message statuses and call outcomes, to the ledger's terminal states.
OUTCOMES: dict[str, ledger.Outcome] = {
    "complete": "completed",
    "completed": "completed",
    "cancelled": "cancelled",
    "incomplete": "failed",
    "failed": "failed",
    "interrupted": "interrupted",
}
RENEW_SECONDS = 30.0


@dataclass(frozen=True)
class Settled:
    """A settled call, as observers (metrics) see it."""

    model: str
    source: str
    outcome: str
    prompt_tokens: int
    completion_tokens: int
    cost_micros: int


@dataclass
class Ticket:
    """An admitted call: who makes it and the reservation billing holds for it."""

    caller: Caller
    source: str
    reservation_id: str
    renewed_at: float = field(default_factory=time.monotonic)


class Metering:
    """Asks billing before every model call and settles after it."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        limits: RateLimits = NO_LIMITS,
        process_id: str | None = None,
    ) -> None:
        self.factory = factory
        self.limits = limits
        self.process_id = process_id  # this process (`core.processes`), recorded on its holds
        self.observers: list[Callable[[Settled], None]] = []

    async def admit(
        self,
        *,
        caller: Caller,
        model: CatalogModel,
        prompt_tokens: int,
        max_output_tokens: int,
        source: str,
        also: Callable[[Connection], None] | None = None,
    ) -> Ticket:
        """Admit a call before it reaches the provider, reserving its worst case; `also` runs in
        the admission's transaction.

        Raises:
            SeatRequired: the user has no AI seat.
            ModelNotAllowed: the caller's usage profile does not allow the model.
            PriceUnknown: the model has no price and a money budget applies.
            RateLimitExceeded: the user or token is over its per-minute limits.
            BudgetExceeded: a hard budget has no room for the worst case.
            ModelDisabled: an admin turned the model off for everyone or the caller's team.
        """
        model.check_access(caller.team_ids)
        reservation = await admission.admit(
            self.factory,
            caller=caller,
            model=model,
            prompt_tokens=prompt_tokens,
            max_output_tokens=max_output_tokens,
            source=source,
            limits=self.limits,
            also=also,
            process_id=self.process_id,
        )
        return Ticket(caller=caller, source=source, reservation_id=reservation.id)

    async def renew(self, ticket: Ticket, *, completion_tokens: int) -> bool:
        """Keep a long call's reservation alive; False once billing closed it (stop the call)."""
        if time.monotonic() - ticket.renewed_at < RENEW_SECONDS:
            return True
        ticket.renewed_at = time.monotonic()
        try:
            await admission.renew_lease(
                self.factory,
                reservation_id=ticket.reservation_id,
                completion_tokens_so_far=completion_tokens,
            )
        except ReservationClosed:
            return False
        return True

    async def settle(
        self,
        ticket: Ticket,
        *,
        model: CatalogModel,
        status: str,
        usage: Usage,
        estimated: bool,
        also: Callable[[Connection, int], None] | None = None,
    ) -> int:
        """Record what a call used in the ledger; returns its cost in micro-dollars.

        `also(connection, cost)` runs in the settlement's own transaction (one commit for the bill
        and the caller's record of the call).
        """

        def with_cost(connection: Connection, entry: LedgerEntry) -> None:
            if also is not None:
                also(connection, int(entry.cost_micros))

        entry = await ledger.settle(
            self.factory,
            reservation_id=ticket.reservation_id,
            outcome=OUTCOMES[status],
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            estimated=estimated,
            also=with_cost if also is not None else None,
        )
        record = Settled(
            model.name,
            ticket.source,
            entry.outcome,
            entry.prompt_tokens,
            entry.completion_tokens,
            int(entry.cost_micros),
        )
        for observe in self.observers:
            observe(record)
        return record.cost_micros
