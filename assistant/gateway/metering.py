"""The one way to call a model: admitted by billing before, renewed while it runs, settled after.

`Metering.call(...)` makes a `MeteredCall`; entering it (or `admit`) reserves the call's worst case,
its `stream`/`complete`/`embed` reach the gateway, and `settle` bills what it used, exactly once.
Leaving the `async with` block unsettled settles it as cancelled (CancelledError) or failed,
shielded from the cancellation. No other module calls the gateway's model-calling methods
(tests/architecture/test_model_calls.py checks).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.gateway import bookkeeping
from assistant.gateway.chunks import Chunk, Usage
from assistant.gateway.delivery import Deliveries
from assistant.gateway.router import Gateway
from assistant.gateway.vectors import Embedded, Inputs
from assistant.schemas import MessageStatus
from billing import admission, ledger
from billing.admission import Caller
from billing.errors import ReservationClosed
from billing.models import LedgerEntry, Reservation
from billing.ratelimits import NO_LIMITS, UNLIMITED, Headroom, RateLimits
from core import tokens
from core.catalog import CatalogModel
from core.database import writes_inline

# How a call ended (said as the status of the message it writes) to the ledger's terminal state.
OUTCOMES: dict[MessageStatus, ledger.Outcome] = {
    MessageStatus.COMPLETE: "completed",
    MessageStatus.CANCELLED: "cancelled",
    MessageStatus.INCOMPLETE: "failed",
    MessageStatus.FAILED: "failed",
    MessageStatus.INTERRUPTED: "interrupted",
}
RENEW_SECONDS = 30.0
FREE = Usage(0, 0)
Admitted = Callable[[Connection], None]
Recorded = Callable[[Connection, int], None]


@dataclass(frozen=True, kw_only=True)
class Settled:
    """A settled call, as observers (metrics) see it."""

    model: str
    source: str
    outcome: str
    prompt_tokens: int
    completion_tokens: int
    cost_micros: int


class Metering:
    """Makes every model call: asks billing before it and settles after it."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        gateway: Gateway,
        limits: RateLimits = NO_LIMITS,
        process_id: str | None = None,
        report_seconds: float = 1.0,
    ) -> None:
        self.factory = factory
        self.gateway = gateway
        self.limits = limits
        self.process_id = process_id  # this process (`core.processes`), recorded on its holds
        self.inline = writes_inline(factory)  # looked up once: a weak mapping's lookup a call
        # what open /v1 streams delivered, written every `report_seconds` (between renewals)
        self.deliveries = Deliveries(factory, seconds=report_seconds)
        self.observers: list[Callable[[Settled], None]] = []

    def call(
        self,
        caller: Caller,
        model: CatalogModel,
        *,
        source: str,
        prompt_tokens: int,
        max_output_tokens: int,
    ) -> MeteredCall:
        """A call of `model` for `caller`, not yet admitted (enter it, or `admit` it)."""
        return MeteredCall(self, caller, model, source, prompt_tokens, max_output_tokens)

    async def probe(
        self, litellm_params: Mapping[str, Any], *, timeout: float = 20.0
    ) -> str | None:
        """An admin's check of a provider's settings (max_tokens 1), billed to no one: None when
        the provider answered, else why not.

        Raises:
            ProviderAddressBlocked: the provider points at a link-local or metadata address.
        """
        return await self.gateway.probe(litellm_params, timeout=timeout)

    def _observe(self, record: Settled) -> None:
        for observe in self.observers:
            observe(record)


class MeteredCall:
    """One model call: admitted once, settled exactly once, however it ends."""

    def __init__(
        self,
        metering: Metering,
        caller: Caller,
        model: CatalogModel,
        source: str,
        prompt_tokens: int,
        max_output_tokens: int,
    ) -> None:
        self.metering = metering
        self.caller = caller
        self.model = model
        self.source = source
        self.prompt_tokens = prompt_tokens
        self.max_output_tokens = max_output_tokens
        self.reservation_id = ""
        self.reservation: Reservation | None = None  # as admitted: settlement may use it
        self.renewed_at = time.monotonic()
        self.settled = False
        # What the caller has read so far: a call left unsettled is billed by these.
        self.usage: Usage | None = None
        self.text = ""
        self.headroom: Headroom = UNLIMITED  # what admission left of the caller's rate limits

    async def admit(self, *, also: Admitted | None = None) -> MeteredCall:
        """Reserve the call's worst case before it reaches the provider; `also` runs in the
        admission's transaction (only if admitted).

        Raises:
            SeatRequired: the user has no AI seat.
            ModelNotAllowed: the caller's usage profile does not allow the model.
            PriceUnknown: the model has no price and a money budget applies.
            RateLimitExceeded: the user or token is over its per-minute limits.
            BudgetExceeded: a hard budget has no room for the worst case.
            ModelDisabled: an admin turned the model off for everyone or the caller's team.
        """
        if self.reservation_id:
            raise RuntimeError("a metered call is admitted once")
        self.model.check_access(self.caller.team_ids)
        metering = self.metering
        work = admission.admit(
            metering.factory,
            caller=self.caller,
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            max_output_tokens=self.max_output_tokens,
            source=self.source,
            limits=metering.limits,
            also=also,
            process_id=metering.process_id,
            headroom=self._note_headroom,
        )
        if metering.inline:
            # No await follows the commit: a cancellation can only come before it, with nothing
            # reserved, so no task of its own (two event-loop turns on the way to the first
            # token, bench/README.md).
            reservation = await work
        else:
            reservation = await self._admitted_shielded(work)
        self.reservation_id = reservation.id
        self.reservation = reservation
        self.renewed_at = time.monotonic()
        return self

    async def _admitted_shielded(self, work: Coroutine[Any, Any, Reservation]) -> Reservation:
        """Admission in a task of its own, which a cancellation of the caller does not stop: the
        reservation may be committed when the caller is cancelled, and is then released here."""
        admitting = asyncio.ensure_future(work)
        try:
            return await asyncio.shield(admitting)
        except asyncio.CancelledError:
            # Cancelled while admitting (a shutdown dropping a title): the reservation may be
            # committed already, and no `async with` will settle it. Release it, then go.
            with contextlib.suppress(Exception):
                self.reservation_id = (await admitting).id
                await self.close(asyncio.CancelledError())
            raise

    def _note_headroom(self, headroom: Headroom) -> None:
        self.headroom = headroom

    async def __aenter__(self) -> MeteredCall:
        if not self.reservation_id:
            await self.admit()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close(error)

    async def close(self, error: BaseException | None = None) -> None:
        """Settle the call if it is not yet: as cancelled after a CancelledError, else as failed,
        billed what the caller recorded in `usage` / `text` (estimated)."""
        if not self.reservation_id or self.settled:
            return
        cancelled = isinstance(error, asyncio.CancelledError)
        status = MessageStatus.CANCELLED if cancelled else MessageStatus.FAILED
        await self.settle(status, self.usage, text=self.text)

    async def stream(
        self,
        *,
        messages: Sequence[Mapping[str, Any]],
        max_tokens: int,
        temperature: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Chunk]:
        """Open the streamed call (`Gateway.stream`).

        Raises:
            ProviderAddressBlocked: a deployment points at a link-local or metadata address.
            ProviderRejected: the provider refused the request itself (bad parameters).
            ProviderError: every deployment failed before the first token.
        """
        self._check_open()
        return await self.metering.gateway.stream(
            model=self.model,
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            extra=extra,
        )

    async def complete(self, *, messages: Sequence[Mapping[str, Any]], **kwargs: Any) -> Any:
        """The whole (non-streamed) completion in OpenAI's response shape (`Gateway.complete`).

        Raises:
            ProviderAddressBlocked: a deployment points at a link-local or metadata address.
            ProviderRejected: the provider refused the request itself.
            ProviderError: every deployment failed.
        """
        self._check_open()
        return await self.metering.gateway.complete(model=self.model, messages=messages, **kwargs)

    async def embeddings(
        self, inputs: Inputs, *, dimensions: int | None = None, user: str | None = None
    ) -> Embedded:
        """Embed texts or token arrays, batched (`Gateway.embeddings`).

        Raises:
            EmbeddingModelUnavailable: a local model cannot be loaded offline.
            ProviderAddressBlocked: a deployment points at a link-local or metadata address.
            ProviderRejected: the provider refused the request itself.
            ProviderError: every deployment failed, or the answer had the wrong shape.
        """
        self._check_open()
        return await self.metering.gateway.embeddings(
            model=self.model, inputs=inputs, dimensions=dimensions, user=user
        )

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        """Embed texts, blocking (from a worker thread): the vectors and the prompt tokens the
        provider reported, -1 when none (`Gateway.embed_sync`).

        Raises:
            ProviderAddressBlocked: a deployment points at a link-local or metadata address.
            ProviderRejected: the provider refused the request itself.
            ProviderError: every deployment failed, or the answer had the wrong shape.
        """
        self._check_open()
        return self.metering.gateway.embed_sync(self.model, texts)

    def _check_open(self) -> None:
        if not self.reservation_id or self.settled:
            raise RuntimeError("a model is called only between admission and settlement")

    def renewal_due(self) -> bool:
        """Whether the reservation's lease is due a renewal."""
        return time.monotonic() - self.renewed_at >= RENEW_SECONDS

    async def renew(self, *, completion_tokens: int) -> bool:
        """Keep a long call's reservation alive; False once billing closed it (stop the call)."""
        if not self.renewal_due():
            return True
        self.renewed_at = time.monotonic()
        try:
            await admission.renew_lease(
                self.metering.factory,
                reservation_id=self.reservation_id,
                completion_tokens_so_far=completion_tokens,
            )
        except ReservationClosed:
            return False
        return True

    def estimate(self, status: MessageStatus, text: str, prompt_tokens: int | None = None) -> Usage:
        """Usage counted here when the provider gave none: the prompt (as admitted unless given;
        none for a failed call) and the tokens of the text it produced."""
        completion = tokens.count_text(text, self.model.name) if text else 0
        prompt = self.prompt_tokens if prompt_tokens is None else prompt_tokens
        return Usage(prompt if status != MessageStatus.FAILED else 0, completion)

    async def settle(
        self,
        status: MessageStatus,
        usage: Usage | None = None,
        *,
        text: str = "",
        estimated: bool | None = None,
        also: Recorded | None = None,
    ) -> int:
        """Record what the call used in the ledger, once, shielded from cancellation; returns its
        cost in micro-dollars. Without `usage` it is estimated (`estimate`, from `text`).

        `also(connection, cost)` runs in the settlement's own transaction (one commit for the bill
        and the caller's record of the call).
        """
        if self.settled or not self.reservation_id:
            raise RuntimeError("a metered call is settled once, after its admission")
        self.settled = True
        if estimated is None:
            estimated = usage is None
        if usage is None:
            usage = self.estimate(status, text)

        def with_cost(connection: Connection, entry: LedgerEntry) -> None:
            if also is not None:
                also(connection, int(entry.cost_micros))

        def settling() -> Coroutine[Any, Any, LedgerEntry]:
            return ledger.settle(
                self.metering.factory,
                reservation_id=self.reservation_id,
                outcome=OUTCOMES[status],
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                estimated=estimated,
                also=with_cost if also is not None else None,
                cache=self._cache_use(usage),
                admitted=self.reservation,
            )

        metering = self.metering
        entry = await bookkeeping.settled(metering.factory, settling, inline=metering.inline)
        record = Settled(
            model=self.model.name,
            source=self.source,
            outcome=entry.outcome,
            prompt_tokens=entry.prompt_tokens,
            completion_tokens=entry.completion_tokens,
            cost_micros=int(entry.cost_micros),
        )
        self.metering._observe(record)
        return record.cost_micros

    def _cache_use(self, usage: Usage) -> ledger.CacheUse:
        """The prompt-cache tokens of a call, at the model's cache rates."""
        price = self.model.price
        return ledger.CacheUse(
            read_tokens=usage.cached.read,
            write_tokens=usage.cached.written,
            read_per_token=price.cache_read_per_token if price else None,
            write_per_token=price.cache_write_per_token if price else None,
        )
