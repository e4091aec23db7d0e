"""The toolkits registry as the chat engine's tool box: offers, checks and runs tools as a user."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.assistants import tool_secrets
from assistant.chat.tool_loop import ToolCall, ToolOffer
from core import users
from core.models import User
from toolkits.calls import TurnBudget
from toolkits.registry import Toolkits


class ChatTools:
    """The toolkits registry as the chat engine's tool box: offers and runs tools as a user."""

    def __init__(self, toolkits: Toolkits, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.toolkits = toolkits
        self.sessions = sessions

    async def _user(self, user_id: str) -> User:
        async with self.sessions() as session:
            return await users.get(session, user_id=user_id)

    async def offers(self, *, user_id: str, toolkit_ids: Sequence[str]) -> list[ToolOffer]:
        """The enabled tools of the chat's toolkits that the user may use."""
        user = await self._user(user_id)
        specs = await self.toolkits.tools_for(user=user, toolkit_ids=toolkit_ids)
        return [
            ToolOffer(s.function_name, s.as_openai_function(), s.side_effects)
            for s in specs
            if s.enabled
        ]

    async def require_usable(self, *, user_id: str, toolkit_ids: Sequence[str]) -> None:
        """Check that each id names a toolkit the user may use.

        Raises:
            ToolkitNotFound: one of them is not.
        """
        await self.toolkits.require_usable(user=await self._user(user_id), toolkit_ids=toolkit_ids)

    def budget(self, citations: list[dict[str, Any]]) -> TurnBudget:
        """A fresh per-turn budget of tool calls, adding cited sources to `citations`."""
        return self.toolkits.turn_budget(citations)

    async def run(
        self,
        *,
        user_id: str,
        call: ToolCall,
        budget: TurnBudget | None,
        assistant_id: str | None = None,
    ) -> tuple[bool, str]:
        """Run one call as the user, with the assistant's secrets; failures come back as
        (False, why)."""
        user = await self._user(user_id)
        with tool_secrets.bound_to(assistant_id):
            result = await self.toolkits.call_tool(
                user=user,
                function_name=call.name,
                arguments=call.parsed_arguments(),
                budget=budget,
            )
        return result.ok, result.content
