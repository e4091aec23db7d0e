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
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.database import write_transaction
from core.errors import SwitchboardError
from core.models import User
from toolkits import discovery
from toolkits.builtins import BuiltinToolkit
from toolkits.calls import Cited, Limits, ToolResult, ToolSpec, TurnBudget
from toolkits.crypto import Sealer
from toolkits.errors import ToolkitNotFound, ToolkitUnavailable
from toolkits.http_tools import HttpTools
from toolkits.mcp_client import (
    CONNECTED,
    FAILED,
    NEEDS_SIGN_IN,
    ConnectionFailed,
    McpConnector,
    Target,
)
from toolkits.models import Toolkit, ToolkitConnection
from toolkits.oauth import OnAuthorize, WaitForCode
from toolkits.schedule import RefreshSchedule
from toolkits.sign_in import SignIns
from toolkits.targets import (
    DEFAULT_CALLBACK,
    NoSecrets,
    SecretSource,
    Targets,
    asked_to_sign_in,
    explain,
)

log = logging.getLogger(__name__)
Args = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Connection:
    """The outcome of connecting to a toolkit for a user."""

    state: str
    reason: str | None
    tool_count: int = 0
    authorization_url: str | None = None


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
        callback_url: str = DEFAULT_CALLBACK,
        sign_in_seconds: float = 600.0,
        refresh_seconds: float = 3600.0,
    ) -> None:
        self.sessions = sessions
        self.connector = connector
        self.sealer = sealer
        self.builtins = {kit.id: kit for kit in builtins}
        self.targets = Targets(
            sessions=sessions,
            sealer=sealer,
            secrets=secrets or NoSecrets(),
            callback_url=callback_url,
        )
        self.http_tools = HttpTools(connector.policy, connector.limits, self.targets)
        self.sign_ins = SignIns(sessions, sealer, sign_in_seconds)
        self.schedule = RefreshSchedule(sessions, self._scheduled_refresh, refresh_seconds)

    def start(self) -> None:
        """Start refreshing tool lists in the background."""
        self.schedule.start()

    async def stop(self) -> None:
        """Stop refreshing, end sign-ins in progress, stop the command-line servers running."""
        await self.schedule.stop()
        await self.sign_ins.close()
        await self.connector.close()

    async def _scheduled_refresh(self, toolkit: Toolkit, owner: User) -> Connection:
        """List a toolkit's tools again as its owner; nothing new or changed is approved."""
        target = await self.target_for(toolkit, owner.id)
        return await self._list_and_record(toolkit, owner, target, record=True, trust_new=False)

    @property
    def limits(self) -> Limits:
        """The per-call timeout, result cap and calls per turn."""
        return self.connector.limits

    def turn_budget(self, citations: list[dict[str, Any]] | None = None) -> TurnBudget:
        """A fresh budget of tool calls for one chat turn; cited sources join `citations`."""
        return TurnBudget(
            self.limits.max_calls_per_turn, citations=[] if citations is None else citations
        )

    async def target_for(
        self,
        toolkit: Toolkit,
        user_id: str,
        *,
        on_authorize: OnAuthorize | None = None,
        wait_for_code: WaitForCode | None = None,
    ) -> Target:
        """Where and how to connect for a user (see `Targets.target_for`).

        Raises:
            SecretMissing: a header takes an assistant secret that is not available here.
        """
        return await self.targets.target_for(
            toolkit, user_id, on_authorize=on_authorize, wait_for_code=wait_for_code
        )

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
        outcome = await self._list_and_record(toolkit, user, target, record=record)
        if outcome.state == NEEDS_SIGN_IN and asked_to_sign_in(target):
            outcome = await self.sign_in(user=user, toolkit_id=toolkit.id)
        return outcome

    async def _list_and_record(
        self,
        toolkit: Toolkit,
        user: User,
        target: Target,
        *,
        record: bool,
        timeout: float = 0,
        trust_new: bool | None = None,
    ) -> Connection:
        if toolkit.kind == "custom":  # its tools are written, not discovered
            async with self.sessions() as session:
                count = len(await discovery.tools_of(session, toolkit_ids=[toolkit.id]))
            return Connection(state=CONNECTED, reason=None, tool_count=count)
        try:
            tools = await self.connector.list_tools(target, timeout=timeout or None)
        except ConnectionFailed as exc:
            outcome = Connection(state=exc.state, reason=explain(exc, target))
        else:
            outcome = Connection(state=CONNECTED, reason=None, tool_count=len(tools))
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
                    trust = discovery.can_edit(row, user) if trust_new is None else trust_new
                    await discovery.record_tools(session, toolkit=row, tools=tools, trust_new=trust)
        return outcome

    async def sign_in(self, *, user: User, toolkit_id: str) -> Connection:
        """Start signing the user in to the toolkit's server (or reuse the sign-in waiting).

        The answer is needs_sign_in with the authorization URL to open, or, when the server
        needs no (new) sign-in, the connection's outcome. The tools are stored once connected.

        Raises:
            ToolkitNotFound: the user may not see the toolkit.
            SecretMissing: a header takes an assistant secret that is not available here.
        """
        async with self.sessions() as session:
            toolkit = await discovery.get_visible(session, user=user, toolkit_id=toolkit_id)
        if toolkit.kind != "mcp_http":
            return await self._connect(user, toolkit_id, record=True)
        await self.target_for(toolkit, user.id)  # a missing secret fails here, not in the task
        window = self.sign_ins.window_seconds

        async def connect(on_authorize: OnAuthorize, wait_for_code: WaitForCode) -> None:
            target = await self.target_for(
                toolkit, user.id, on_authorize=on_authorize, wait_for_code=wait_for_code
            )
            await self._list_and_record(toolkit, user, target, record=True, timeout=window)

        key = (toolkit.id, user.id)
        wait = self.limits.call_timeout_seconds
        url = await self.sign_ins.start(key, connect, wait_seconds=wait)
        if url is None:
            row = await self.connection_of(user=user, toolkit_id=toolkit.id)
            if row is None:
                return Connection(state=FAILED, reason="The sign-in did not start in time.")
            return Connection(state=row.state, reason=row.reason)
        reason = f"Sign in to {toolkit.name} at {url}"
        async with write_transaction(self.sessions) as session:
            await discovery.set_connection(
                session, toolkit_id=toolkit.id, user_id=user.id, state=NEEDS_SIGN_IN, reason=reason
            )
        return Connection(state=NEEDS_SIGN_IN, reason=reason, authorization_url=url)

    async def complete_sign_in(
        self, *, user: User, state: str, code: str | None, error: str | None
    ) -> str:
        """Complete a sign-in from the authorization server's redirect; returns the toolkit id
        once the connection's outcome is recorded (or the wait ran out).

        Raises:
            SignInStateInvalid: the state is not one of the user's open sign-ins.
        """
        toolkit_id = await self.sign_ins.complete(
            user_id=user.id, state=state, code=code, error=error
        )
        await self.sign_ins.wait_done(toolkit_id, user.id, 2 * self.limits.call_timeout_seconds)
        return toolkit_id

    async def sign_out(self, *, user: User, toolkit_id: str) -> None:
        """Forget the user's sign-in to the toolkit: tokens, client registration, open sign-ins.

        Raises:
            ToolkitNotFound: the user may not see the toolkit.
        """
        async with self.sessions() as session:
            toolkit = await discovery.get_visible(session, user=user, toolkit_id=toolkit_id)
        await self.sign_ins.cancel(toolkit_id=toolkit.id, user_id=user.id)
        async with write_transaction(self.sessions) as session:
            had_grant = await discovery.forget_grant(
                session, toolkit_id=toolkit.id, user_id=user.id
            )
            if had_grant:
                await discovery.set_connection(
                    session,
                    toolkit_id=toolkit.id,
                    user_id=user.id,
                    state=NEEDS_SIGN_IN,
                    reason=f"You signed out of {toolkit.name}; connect to sign in again.",
                )
            else:
                await discovery.forget_connection(session, toolkit_id=toolkit.id, user_id=user.id)

    async def connection_of(self, *, user: User, toolkit_id: str) -> ToolkitConnection | None:
        """The user's last recorded connection to a toolkit."""
        async with self.sessions() as session:
            return await discovery.connection(session, toolkit_id=toolkit_id, user_id=user.id)

    async def require_usable(self, *, user: User, toolkit_ids: Sequence[str]) -> None:
        """Check that each id names a toolkit the user may use: a built-in or one they may see.

        Raises:
            ToolkitUnavailable: a built-in toolkit this server cannot offer (saying why).
            ToolkitNotFound: the first id that does not.
        """
        kits = [self.builtins[t] for t in toolkit_ids if t in self.builtins]
        if blocked := [k for k in kits if k.unavailable]:
            raise ToolkitUnavailable(blocked[0].unavailable, toolkit_id=blocked[0].id)
        unknown = [t for t in dict.fromkeys(toolkit_ids) if t not in self.builtins]
        if not unknown:
            return
        async with self.sessions() as session:
            for toolkit_id in unknown:
                await discovery.get_visible(session, user=user, toolkit_id=toolkit_id)

    async def tools_for(
        self, *, user: User, toolkit_ids: Sequence[str] | None = None, q: str | None = None
    ) -> list[ToolSpec]:
        """The tools a user may see (of the given toolkits, or all), enabled or not, by `q`."""
        async with self.sessions() as session:
            return await discovery.specs(
                session, user=user, builtins=self.builtins.values(), toolkit_ids=toolkit_ids, q=q
            )

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
            return await self._call_builtin(builtin, user, name, arguments, budget)
        try:
            return await self._call_external(user, toolkit_id, name, dict(arguments))
        except SwitchboardError as exc:
            return ToolResult(False, exc.message)

    async def _call_builtin(
        self, kit: BuiltinToolkit, user: User, name: str, arguments: Args, budget: TurnBudget | None
    ) -> ToolResult:
        tool = next((t for t in kit.tools if t.definition.name == name), None)
        if tool is None:
            return ToolResult(False, f"No tool {name!r} in {kit.name}.")
        try:
            with anyio.fail_after(self.limits.call_timeout_seconds):
                answer = await tool.run(user.id, arguments)
        except SwitchboardError as exc:
            return ToolResult(False, exc.message)
        except TimeoutError:
            return ToolResult(
                False, f"The tool did not finish within {self.limits.call_timeout_seconds:g} s."
            )
        except Exception:
            log.exception("built-in tool %s failed", name)
            return ToolResult(False, "The tool failed unexpectedly.")
        if isinstance(answer, Cited):  # its sources join the turn's citations, numbered after them
            answer = answer.numbered(budget.citations if budget is not None else [])
        return self.limits.cap(answer)

    async def _call_external(
        self, user: User, toolkit_id: str, name: str, arguments: dict[str, Any]
    ) -> ToolResult:
        async with self.sessions() as session:
            toolkit = await discovery.get_visible(session, user=user, toolkit_id=toolkit_id)
            tool = await discovery.get_tool(session, toolkit=toolkit, name=name)
            known = await discovery.connection(session, toolkit_id=toolkit.id, user_id=user.id)
        if tool.approved_hash != tool.definition_hash:
            return ToolResult(
                False, "This tool changed since it was approved; an editor must approve it again."
            )
        if toolkit.kind == "custom":
            return await self.http_tools.call(
                toolkit=toolkit, tool=tool, user_id=user.id, arguments=arguments
            )
        target = await self.target_for(toolkit, user.id)
        outcome = await self.connector.call_tool(
            target, name, arguments, approved_hash=tool.approved_hash
        )
        if outcome.failed and asked_to_sign_in(target):
            connection = await self.sign_in(user=user, toolkit_id=toolkit.id)
            return ToolResult(False, f"{connection.reason or 'Sign-in failed.'} Then try again.")
        was_connected = known is not None and known.state == CONNECTED
        if outcome.current is not None or outcome.failed or not was_connected:
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
                failed = outcome.failed
                await discovery.set_connection(
                    session,
                    toolkit_id=row.id,
                    user_id=user.id,
                    state=FAILED if failed else CONNECTED,
                    reason=outcome.result.content[:2000] if failed else None,
                )
        return outcome.result
