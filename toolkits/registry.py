"""Toolkits at run time: what tools a user may use, refreshing and testing, and running a call.

This is the API of the chat tool loop:

    specs = await toolkits.tools_for(user=user, toolkit_ids=chat_toolkits)
    budget = toolkits.turn_budget()
    result = await toolkits.call_tool(user=user, function_name=..., arguments=..., budget=budget)

`call_tool` never raises for a tool's failure: the model gets `ToolResult(ok=False, content=why)`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.database import write_transaction
from core.errors import SwitchboardError
from core.models import User
from toolkits import discovery
from toolkits.builtins import BuiltinToolkit
from toolkits.calls import Limits, ToolResult, ToolSpec, TurnBudget, function_name
from toolkits.crypto import Sealer
from toolkits.errors import SecretMissing, ToolkitNotFound
from toolkits.mcp_client import (
    CONNECTED,
    FAILED,
    ConnectionFailed,
    HttpTarget,
    McpConnector,
    StdioTarget,
    Target,
)
from toolkits.models import Toolkit, ToolkitConnection

log = logging.getLogger(__name__)


class SecretSource(Protocol):
    """Assistant secrets by name, as the user may read them (the assistant package provides it)."""

    async def lookup(self, *, user_id: str, name: str) -> str | None:
        """The secret's value, or None when there is none the user may use."""
        ...


class NoSecrets:
    """No secret store yet: every secret reference is reported as missing."""

    async def lookup(self, *, user_id: str, name: str) -> str | None:
        """Always None."""
        return None


@dataclass(frozen=True)
class Connection:
    """The outcome of connecting to a toolkit for a user."""

    state: str
    reason: str | None
    tool_count: int = 0


class Toolkits:
    """Built-in and external toolkits for one app: discovery, connection states, tool calls."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        connector: McpConnector,
        sealer: Sealer,
        builtins: Sequence[BuiltinToolkit],
        secrets: SecretSource | None = None,
    ) -> None:
        self.sessions = sessions
        self.connector = connector
        self.sealer = sealer
        self.builtins = {kit.id: kit for kit in builtins}
        self.secrets = secrets or NoSecrets()

    @property
    def limits(self) -> Limits:
        """The per-call timeout, result cap and calls per turn."""
        return self.connector.limits

    def turn_budget(self) -> TurnBudget:
        """A fresh budget of tool calls for one chat turn."""
        return TurnBudget(self.limits.max_calls_per_turn)

    async def target_for(self, toolkit: Toolkit, user_id: str) -> Target:
        """Where and how to connect for a user: headers resolved from secrets or decrypted.

        Raises:
            SecretMissing: a header takes an assistant secret that is not available here (no
                assistant bound, the user may not use it, or it has no secret of that name).
        """
        if toolkit.kind == "mcp_stdio":
            return StdioTarget(tuple(toolkit.command or ()))
        headers: dict[str, str] = {}
        for name, stored in (toolkit.headers or {}).items():
            if "secret" in stored:
                value = await self.secrets.lookup(user_id=user_id, name=stored["secret"])
                if value is None:
                    raise SecretMissing(
                        f"The header {name!r} takes the assistant secret {stored['secret']!r}: "
                        "give the assistantId of an assistant you may use that has it.",
                        secret=stored["secret"],
                        header=name,
                    )
                headers[name] = value
            else:
                headers[name] = self.sealer.open(stored["sealed"], context=toolkit.id)
        return HttpTarget(toolkit.url or "", headers)

    async def refresh(self, *, user: User, toolkit_id: str) -> Connection:
        """Connect, list the tools and store them; changed ones stay disabled until re-approved.

        Raises:
            ToolkitNotFound: the user may not see the toolkit.
            SecretMissing: a header takes an assistant secret that is not available here.
        """
        return await self._connect(user, toolkit_id, record=True)

    async def test(self, *, user: User, toolkit_id: str) -> Connection:
        """Connect and list the tools without storing them; records the connection state.

        Raises:
            ToolkitNotFound: the user may not see the toolkit.
            SecretMissing: a header takes an assistant secret that is not available here.
        """
        return await self._connect(user, toolkit_id, record=False)

    async def _connect(self, user: User, toolkit_id: str, *, record: bool) -> Connection:
        async with self.sessions() as session:
            toolkit = await discovery.get_visible(session, user=user, toolkit_id=toolkit_id)
        target = await self.target_for(toolkit, user.id)
        try:
            tools = await self.connector.list_tools(target)
        except (ConnectionFailed, SwitchboardError) as exc:
            state = exc.state if isinstance(exc, ConnectionFailed) else FAILED
            reason = exc.reason if isinstance(exc, ConnectionFailed) else exc.message
            outcome = Connection(state, reason)
        else:
            outcome = Connection(CONNECTED, None, len(tools))
        async with write_transaction(self.sessions) as session:
            await discovery.set_connection(
                session,
                toolkit_id=toolkit.id,
                user_id=user.id,
                state=outcome.state,
                reason=outcome.reason,
            )
            if record and outcome.state == CONNECTED:
                row = await session.get(Toolkit, toolkit.id)
                if row is not None:
                    trust = discovery.can_edit(row, user)
                    await discovery.record_tools(session, toolkit=row, tools=tools, trust_new=trust)
        return outcome

    async def connection_of(self, *, user: User, toolkit_id: str) -> ToolkitConnection | None:
        """The user's last recorded connection to a toolkit."""
        async with self.sessions() as session:
            return await discovery.connection(session, toolkit_id=toolkit_id, user_id=user.id)

    async def tools_for(
        self, *, user: User, toolkit_ids: Sequence[str] | None = None, q: str | None = None
    ) -> list[ToolSpec]:
        """The tools a user may see (of the given toolkits, or all), enabled or not, by `q`."""
        specs = [
            ToolSpec(
                kit.id,
                kit.name,
                tool.definition.name,
                function_name(kit.id, tool.definition.name),
                tool.definition.description,
                tool.definition.input_schema,
                side_effects=False,
                enabled=True,
            )
            for kit in self.builtins.values()
            if toolkit_ids is None or kit.id in toolkit_ids
            for tool in kit.tools
        ]
        async with self.sessions() as session:
            kits = {k.id: k for k in await discovery.all_visible(session, user=user)}
            wanted = [i for i in kits if toolkit_ids is None or i in toolkit_ids]
            for row in await discovery.tools_of(session, toolkit_ids=wanted):
                kit = kits[row.toolkit_id]
                specs.append(
                    ToolSpec(
                        kit.id,
                        kit.name,
                        row.name,
                        function_name(kit.id, row.name),
                        row.description,
                        row.input_schema,
                        row.side_effects,
                        enabled=row.approved_hash == row.definition_hash,
                    )
                )
        if q:
            needle = q.lower()
            specs = [
                s for s in specs if needle in f"{s.name} {s.description} {s.toolkit_name}".lower()
            ]
        return specs

    async def call_tool(
        self,
        *,
        user: User,
        function_name: str,
        arguments: Mapping[str, Any],
        budget: TurnBudget | None = None,
    ) -> ToolResult:
        """Run one tool call for a user, within the per-call timeout and result cap.

        Never raises for the tool's own failure (unknown tool, disabled tool, timeout, crash,
        limit reached): those come back as `ToolResult(ok=False, content=<why>)` for the model.
        """
        if budget is not None and not budget.take():
            limit = self.limits.max_calls_per_turn
            return ToolResult(False, f"Tool call limit reached ({limit} per turn).")
        toolkit_id, _, name = function_name.partition("__")
        builtin = self.builtins.get(toolkit_id)
        if builtin is not None:
            return await self._call_builtin(builtin, user, name, arguments)
        try:
            return await self._call_external(user, toolkit_id, name, dict(arguments))
        except SwitchboardError as exc:
            return ToolResult(False, exc.message)

    async def _call_builtin(
        self, kit: BuiltinToolkit, user: User, name: str, arguments: Mapping[str, Any]
    ) -> ToolResult:
        tool = next((t for t in kit.tools if t.definition.name == name), None)
        if tool is None:
            return ToolResult(False, f"No tool {name!r} in {kit.name}.")
        try:
            with anyio.fail_after(self.limits.call_timeout_seconds):
                text = await tool.run(user.id, arguments)
        except SwitchboardError as exc:
            return ToolResult(False, exc.message)
        except TimeoutError:
            return ToolResult(
                False, f"The tool did not finish within {self.limits.call_timeout_seconds:g} s."
            )
        except Exception:
            log.exception("built-in tool %s failed", name)
            return ToolResult(False, "The tool failed unexpectedly.")
        return self.limits.cap(text)

    async def _call_external(
        self, user: User, toolkit_id: str, name: str, arguments: dict[str, Any]
    ) -> ToolResult:
        async with self.sessions() as session:
            toolkit = await discovery.get_visible(session, user=user, toolkit_id=toolkit_id)
            tool = await discovery.get_tool(session, toolkit=toolkit, name=name)
        if tool.approved_hash != tool.definition_hash:
            return ToolResult(
                False, "This tool changed since it was approved; an editor must approve it again."
            )
        target = await self.target_for(toolkit, user.id)
        outcome = await self.connector.call_tool(
            target, name, arguments, approved_hash=tool.approved_hash
        )
        if outcome.current is not None or outcome.failed:
            async with write_transaction(self.sessions) as session:
                row = await session.get(Toolkit, toolkit.id)
                if row is None:
                    raise ToolkitNotFound(toolkit_id=toolkit_id)
                if outcome.current is not None:
                    existing = await discovery.get_tool(session, toolkit=row, name=name)
                    await discovery.record_definition(
                        session,
                        toolkit=row,
                        definition=outcome.current,
                        row=existing,
                        trust_new=False,
                    )
                else:
                    await discovery.set_connection(
                        session,
                        toolkit_id=row.id,
                        user_id=user.id,
                        state=FAILED,
                        reason=outcome.result.content[:2000],
                    )
        return outcome.result
