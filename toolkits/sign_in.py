"""Sign-ins in progress: the authorization URL a user opens, and the callback that completes it.

A sign-in runs the `mcp` OAuth client in a task of its own: it discovers the server's
authorization server, registers a client where the server supports it, and stops at the
authorization URL until the user comes back through the callback with a code. The state in that
URL is bound, in the database, to the user and the toolkit; it can be used once and expires. The
waiting task notices the code through an event in this process or, when the callback reached
another worker, through the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import anyio
from mcp.shared.auth import AuthorizationCodeResult
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock
from core.database import write_transaction
from toolkits.crypto import Sealer
from toolkits.errors import SignInStateInvalid
from toolkits.models import ToolkitSignIn
from toolkits.oauth import OnAuthorize, SignInRefused, WaitForCode, aware

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
Key = tuple[str, str]  # (toolkit id, user id)
Connect = Callable[[OnAuthorize, WaitForCode], Awaitable[None]]


def state_hash(state: str) -> str:
    """How a sign-in's state is stored: only its hash."""
    return hashlib.sha256(state.encode()).hexdigest()


@dataclass(eq=False, kw_only=True)
class _Flow:
    key: Key
    expires: float
    url: str | None = None
    state_hash: str | None = None
    url_ready: anyio.Event = field(default_factory=anyio.Event)
    code_arrived: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        return not self.done.is_set() and anyio.current_time() < self.expires


class SignIns:
    """The sign-ins this process is waiting on, at most one per user and toolkit."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], sealer: Sealer, window_seconds: float
    ) -> None:
        self.sessions = sessions
        self.sealer = sealer
        self.window_seconds = window_seconds
        self._flows: dict[Key, _Flow] = {}
        self._by_state: dict[str, _Flow] = {}

    async def start(self, key: Key, connect: Connect, *, wait_seconds: float) -> str | None:
        """Start a sign-in (or reuse the one waiting) and return its authorization URL.

        `connect` runs the connection with the two handlers this gives it. None when the
        connection finished without asking for a sign-in (it recorded its own outcome).
        """
        flow = self._flows.get(key)
        if flow is not None and flow.live and flow.url is not None:
            return flow.url
        if flow is not None:
            self._end(flow)
        flow = _Flow(key=key, expires=anyio.current_time() + self.window_seconds)
        self._flows[key] = flow
        flow.task = asyncio.create_task(self._run(flow, connect), name=f"sign-in {key[0]}")
        with anyio.move_on_after(wait_seconds):
            async with anyio.create_task_group() as group:

                async def first(event: anyio.Event) -> None:
                    await event.wait()
                    group.cancel_scope.cancel()

                group.start_soon(first, flow.url_ready)
                group.start_soon(first, flow.done)
        return flow.url if not flow.done.is_set() else None

    async def _run(self, flow: _Flow, connect: Connect) -> None:
        async def on_authorize(url: str) -> None:
            await self._record(flow, url)

        async def wait_for_code() -> AuthorizationCodeResult:
            return await self._wait_for_code(flow)

        try:
            with anyio.fail_after(self.window_seconds):
                await connect(on_authorize, wait_for_code)
        except Exception:
            log.exception("sign-in to toolkit %s ended with an error", flow.key[0])
        finally:
            flow.done.set()
            self._forget(flow)

    async def _record(self, flow: _Flow, url: str) -> None:
        state = (parse_qs(urlsplit(url).query).get("state") or [""])[0]
        toolkit_id, user_id = flow.key
        digest = state_hash(state)
        async with write_transaction(self.sessions) as session:
            await session.execute(  # earlier sign-ins of this user to this toolkit are done with
                delete(ToolkitSignIn).where(
                    ToolkitSignIn.toolkit_id == toolkit_id, ToolkitSignIn.user_id == user_id
                )
            )
            session.add(
                ToolkitSignIn(
                    toolkit_id=toolkit_id,
                    user_id=user_id,
                    state_hash=digest,
                    authorization_url=url,
                    expires_at=clock.now() + timedelta(seconds=self.window_seconds),
                )
            )
        flow.url, flow.state_hash = url, digest
        self._by_state[digest] = flow
        flow.url_ready.set()

    async def _wait_for_code(self, flow: _Flow) -> AuthorizationCodeResult:
        state = (parse_qs(urlsplit(flow.url or "").query).get("state") or [""])[0]
        while True:
            async with self.sessions() as session:
                row = await session.scalar(
                    select(ToolkitSignIn).where(ToolkitSignIn.state_hash == flow.state_hash)
                )
            if row is None:
                raise SignInStateInvalid("The sign-in was cancelled.")
            if row.used_at is not None and (row.error or not row.code):
                raise SignInRefused(f"The sign-in was refused: {row.error or 'no code came back'}.")
            if row.used_at is not None and row.code:
                code = self.sealer.open(row.code, context=row.id)
                return AuthorizationCodeResult(code=code, state=state)
            with anyio.move_on_after(POLL_SECONDS):
                await flow.code_arrived.wait()

    async def complete(
        self, *, user_id: str, state: str, code: str | None, error: str | None
    ) -> str:
        """Hand the callback's code (or error) to the sign-in it belongs to; returns its toolkit.

        Raises:
            SignInStateInvalid: no sign-in of this user has that state, or it expired, or it was
                used already.
        """
        digest = state_hash(state)
        async with write_transaction(self.sessions) as session:
            row = await session.scalar(
                select(ToolkitSignIn).where(ToolkitSignIn.state_hash == digest)
            )
            if row is None or row.user_id != user_id:
                raise SignInStateInvalid()
            if row.used_at is not None:
                raise SignInStateInvalid("This sign-in was already completed; start a new one.")
            if aware(row.expires_at) < clock.now():
                raise SignInStateInvalid("This sign-in expired; start a new one.")
            sealed = self.sealer.seal(code, context=row.id) if code else None
            taken = await session.execute(
                update(ToolkitSignIn)
                .where(ToolkitSignIn.id == row.id, ToolkitSignIn.used_at.is_(None))
                .values(used_at=clock.now(), code=sealed, error=(error or None) and error[:500])
            )
            if getattr(taken, "rowcount", 0) != 1:
                raise SignInStateInvalid("This sign-in was already completed; start a new one.")
            toolkit_id = row.toolkit_id
        flow = self._by_state.get(digest)
        if flow is not None:
            flow.code_arrived.set()
        return toolkit_id

    async def wait_done(self, toolkit_id: str, user_id: str, timeout: float) -> None:
        """Wait (up to `timeout`) for this process's sign-in of the user to the toolkit to end."""
        flow = self._flows.get((toolkit_id, user_id))
        if flow is not None:
            with anyio.move_on_after(timeout):
                await flow.done.wait()

    async def pending_url(self, *, toolkit_id: str, user_id: str) -> str | None:
        """The authorization URL of the user's sign-in to the toolkit that is still open."""
        async with self.sessions() as session:
            rows = await session.scalars(
                select(ToolkitSignIn)
                .where(
                    ToolkitSignIn.toolkit_id == toolkit_id,
                    ToolkitSignIn.user_id == user_id,
                    ToolkitSignIn.used_at.is_(None),
                )
                .order_by(ToolkitSignIn.created_at.desc())
            )
            now = clock.now()
            return next((r.authorization_url for r in rows if aware(r.expires_at) > now), None)

    async def cancel(self, *, toolkit_id: str, user_id: str) -> None:
        """End the user's sign-in to the toolkit, here and in the database."""
        flow = self._flows.get((toolkit_id, user_id))
        if flow is not None:
            self._end(flow)
        async with write_transaction(self.sessions) as session:
            await session.execute(
                delete(ToolkitSignIn).where(
                    ToolkitSignIn.toolkit_id == toolkit_id, ToolkitSignIn.user_id == user_id
                )
            )

    def _end(self, flow: _Flow) -> None:
        if flow.task is not None and not flow.task.done():
            flow.task.cancel()
        self._forget(flow)

    def _forget(self, flow: _Flow) -> None:
        if self._flows.get(flow.key) is flow:
            del self._flows[flow.key]
        if flow.state_hash is not None and self._by_state.get(flow.state_hash) is flow:
            del self._by_state[flow.state_hash]

    async def close(self) -> None:
        """Stop every sign-in this process is waiting on."""
        flows = list(self._flows.values())
        for flow in flows:
            self._end(flow)
        for flow in flows:
            if flow.task is not None:
                await asyncio.gather(flow.task, return_exceptions=True)
