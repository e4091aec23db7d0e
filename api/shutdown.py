"""Graceful shutdown: at SIGTERM readiness fails, new answers are refused, running ones drain.

uvicorn stops accepting connections as soon as it sees SIGTERM, which leaves a load balancer no
time to notice and cuts answers that were being written. So while the app runs, SIGTERM first
reaches `Drain`: readiness answers 503 at once, new chat turns and `/v1` calls are refused with
503 `shutting_down` (retry elsewhere), and answers being generated get `grace_seconds` to finish.
Those still running then end with an `error` event `shutting_down`, saved `interrupted` and
settled. Only then is uvicorn's own handler called, and it shuts down as usual. A second SIGTERM
skips the wait.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from api.v1_errors import response_at
from assistant.chat.engine import ChatEngine
from assistant.chat.runs import ShuttingDown

log = logging.getLogger(__name__)
# Requests that start model work: a chat turn, a regeneration or an edited turn, a /v1 call.
_STARTS_WORK = re.compile(r"^/api/chats/[^/]+/messages(/[^/]+/(_regenerate|_edit))?/?$|^/v1/")
_Handler = Callable[[int, FrameType | None], Any] | int | None


class Drain:
    """The shutdown state of one process and the work it waits for."""

    def __init__(self, chat: ChatEngine, *, grace_seconds: float) -> None:
        self.chat = chat
        self.grace_seconds = grace_seconds
        self.draining = False
        self.in_flight = 0  # requests that start model work, still being answered
        self.done = asyncio.Event()
        self._previous: _Handler = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def listen(self) -> None:
        """Take SIGTERM (in the main thread only), remembering the handler to chain to."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._loop = asyncio.get_running_loop()
        self._previous = signal.signal(signal.SIGTERM, self._on_signal)

    def stop_listening(self) -> None:
        """Give SIGTERM back to whoever had it before `listen`."""
        if self._loop is not None and signal.getsignal(signal.SIGTERM) == self._on_signal:
            signal.signal(signal.SIGTERM, self._previous)
        self._loop = None

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self.draining or self._loop is None:  # a second signal: stop without waiting
            self._chain(sig, frame)
            return
        self.draining = True  # readiness and the refusal see it before the loop wakes
        loop = self._loop
        loop.call_soon_threadsafe(self.begin, lambda: self._chain(sig, frame))

    def begin(self, then: Callable[[], None] | None = None) -> None:
        """Start draining; `then` runs once the running work has ended (or been interrupted)."""
        self.draining = True
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain(then), name="drain")

    async def _drain(self, then: Callable[[], None] | None) -> None:
        active = len(self.chat.registry.active())
        log.warning(
            "shutting down: refusing new work, %d answers and %d requests get %.0f s to finish",
            active,
            self.in_flight,
            self.grace_seconds,
        )
        deadline = time.monotonic() + self.grace_seconds
        while (self.chat.registry.active() or self.in_flight) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await self.chat.shutdown(grace_seconds=0)  # what is left ends `interrupted`, saved
        self.done.set()
        if then is not None:
            then()

    def _chain(self, sig: int, frame: FrameType | None) -> None:
        previous = self._previous
        if callable(previous):
            previous(sig, frame)
        elif previous in (signal.SIG_DFL, None):
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)


class RefuseWhileDraining:
    """Answers 503 `shutting_down` to requests that would start model work while draining."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        counted = (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and _STARTS_WORK.match(scope["path"]) is not None
        )
        if not counted:
            await self.app(scope, receive, send)
            return
        if self.drain.draining:
            response = response_at(scope["path"], ShuttingDown())
            response.headers["Retry-After"] = "1"
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        self.drain.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.in_flight -= 1
