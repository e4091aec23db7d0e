"""Command-line MCP servers kept running between calls: one session per toolkit, bounded.

Starting a stdio server costs a process start and an MCP handshake (often a second or more), so
each toolkit's server is started once and its session shared by every call. The pool holds at
most `max_sessions` servers, closes one after `idle_seconds` without use, and when a server has
died (crashed, killed) the next call finds its session closed, drops it and starts a new one.

Each session lives in a task of its own, because the `mcp` client's context must be entered and
left in one task; callers borrow the open client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED

log = logging.getLogger(__name__)
PoolKey = tuple[str, ...]


def is_closed(exc: BaseException) -> bool:
    """Whether a failure means the server's session is gone (so a new one may be started)."""
    if isinstance(exc, BaseExceptionGroup):
        return any(is_closed(inner) for inner in exc.exceptions)
    if isinstance(exc, MCPError):
        return exc.code == CONNECTION_CLOSED
    return isinstance(exc, anyio.ClosedResourceError | anyio.BrokenResourceError | EOFError)


class StartFailed(Exception):
    """A command-line tool server did not start in time."""


@dataclass(eq=False, kw_only=True)
class _Session:
    """One running server: its client once ready, who is using it, and how to stop it."""

    command: tuple[str, ...]
    ready: anyio.Event = field(default_factory=anyio.Event)
    stop: anyio.Event = field(default_factory=anyio.Event)
    client: Client | None = None
    error: BaseException | None = None
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None

    @property
    def usable(self) -> bool:
        return self.client is not None and not self.stop.is_set()


class StdioPool:
    """Running stdio MCP servers by key (a toolkit and its command)."""

    def __init__(self, *, max_sessions: int = 8, idle_seconds: float = 300.0) -> None:
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self._sessions: dict[PoolKey, _Session] = {}
        self.started = 0

    @asynccontextmanager
    async def client(
        self, key: PoolKey, command: Sequence[str], start_seconds: float = 30.0
    ) -> AsyncIterator[Client]:
        """Borrow the running session for `key`, starting the server if there is none.

        A failure that shows the session is closed drops it, so the next borrow starts anew.
        When every slot is busy, a session only for this borrow is used.

        Raises:
            StartFailed: the server did not start within `start_seconds`.
            Exception: the server could not be started (whatever the `mcp` client raised).
        """
        if not self._has_room(key):
            with anyio.fail_after(start_seconds):  # start and use, for a one-off session
                async with _open(tuple(command)) as client:
                    yield client
            return
        try:
            with anyio.fail_after(start_seconds):
                session = await self._borrow(key, tuple(command))
        except TimeoutError as exc:
            raise StartFailed(f"The tool server did not start within {start_seconds:g} s.") from exc
        try:
            assert session.client is not None
            yield session.client
        except BaseException as exc:
            if is_closed(exc):
                self._drop(key, session)
            raise
        finally:
            session.users -= 1
            session.last_used = time.monotonic()

    def _has_room(self, key: PoolKey) -> bool:
        if key in self._sessions or len(self._sessions) < self.max_sessions:
            return True
        return any(s.users == 0 for s in self._sessions.values())

    async def _borrow(self, key: PoolKey, command: tuple[str, ...]) -> _Session:
        session = self._sessions.get(key)
        if session is not None and (session.command != command or session.stop.is_set()):
            self._drop(key, session)
            session = None
        if session is None:
            self._make_room()
            session = _Session(command=command)
            self._sessions[key] = session
            session.task = asyncio.create_task(self._run(key, session), name=f"stdio {key[0]}")
            self.started += 1
        session.users += 1  # counted from now, so a slow start is not mistaken for idleness
        try:
            await session.ready.wait()
            if session.error is not None or session.client is None:
                raise session.error or RuntimeError("The tool server stopped.")
        except BaseException:
            session.users -= 1
            if session.client is None:
                self._drop(key, session)  # a start that outlasts its caller is abandoned
            raise
        return session

    def _make_room(self) -> None:
        if len(self._sessions) < self.max_sessions:
            return
        idle = [(s.last_used, k) for k, s in self._sessions.items() if s.users == 0]
        if idle:
            _, oldest = min(idle)
            self._drop(oldest, self._sessions[oldest])

    def _drop(self, key: PoolKey, session: _Session) -> None:
        session.stop.set()
        if self._sessions.get(key) is session:
            del self._sessions[key]

    async def _run(self, key: PoolKey, session: _Session) -> None:
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(_cancel_on, session.stop, group.cancel_scope)
                async with _open(session.command) as client:
                    session.client, session.last_used = client, time.monotonic()
                    session.ready.set()
                    await self._until_idle(session)
                group.cancel_scope.cancel()
        except Exception as exc:
            if not session.ready.is_set():
                session.error = exc
            log.info("stdio tool server %s ended: %r", key[0], exc)
        finally:
            session.client = None
            session.ready.set()
            self._drop(key, session)

    async def _until_idle(self, session: _Session) -> None:
        while True:
            idle_for = time.monotonic() - session.last_used
            if session.users == 0 and idle_for >= self.idle_seconds:
                return
            await anyio.sleep(max(self.idle_seconds - idle_for, 0.05))

    def running(self) -> int:
        """How many sessions are open."""
        return sum(1 for s in self._sessions.values() if s.usable)

    async def close(self) -> None:
        """Stop every server and wait for them to exit."""
        sessions = list(self._sessions.items())
        for key, session in sessions:
            self._drop(key, session)
        tasks = [s.task for _, s in sessions if s.task is not None]
        for task in tasks:
            with suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)


async def _cancel_on(stop: anyio.Event, scope: anyio.CancelScope) -> None:
    await stop.wait()
    scope.cancel()


@asynccontextmanager
async def _open(command: tuple[str, ...]) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=command[0], args=list(command[1:]))
    with open(os.devnull, "w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            yield client
