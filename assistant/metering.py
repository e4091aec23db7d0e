"""Between model calls and billing: admit before a call, renew while it runs, settle after."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.gateway import Usage
from core.catalog import CatalogModel


@dataclass(frozen=True)
class Ticket:
    """An admitted call: who makes it and the reservation billing holds for it."""

    user_id: str
    source: str
    reservation_id: str | None = None
    api_token_id: str | None = None


# Message statuses and call outcomes, to the ledger's terminal states.
OUTCOMES = {
    "complete": "completed",
    "completed": "completed",
    "cancelled": "cancelled",
    "incomplete": "failed",
    "failed": "failed",
    "interrupted": "interrupted",
}


class Metering:
    """Asks billing before every model call and settles after it."""

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self.factory = factory

    async def admit(
        self,
        *,
        user_id: str,
        model: CatalogModel,
        prompt_tokens: int,
        max_output_tokens: int,
        source: str,
        api_token_id: str | None = None,
    ) -> Ticket:
        """Admit a call before it reaches the provider."""
        return Ticket(user_id=user_id, source=source, api_token_id=api_token_id)

    async def renew(self, ticket: Ticket, *, completion_tokens: int) -> None:
        """Tell billing the call is alive and how much it has delivered so far."""

    async def settle(
        self, ticket: Ticket, *, model: CatalogModel, status: str, usage: Usage, estimated: bool
    ) -> int:
        """Record what a call used; returns its cost in micro-dollars."""
        if model.price is None:
            return 0
        return model.price.cost_micros(usage.prompt_tokens, usage.completion_tokens)
