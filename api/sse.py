"""Server-sent events: an answer's events as an SSE response that proxies do not buffer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from api.middleware import BODY_SEND
from assistant.chat.runs import StreamEvent

HEADERS = {"X-Accel-Buffering": "no", "Cache-Control": "no-cache"}
PING = b": ping\r\n\r\n"


def event_stream(
    events: AsyncIterator[StreamEvent] | AsyncIterator[list[StreamEvent]], *, ping_seconds: float
) -> FramedStream:
    """An SSE response carrying each event with its id, name and JSON data.

    Framed as sse-starlette frames them (CRLF line ends), written with `FramedStream`; a list
    of events (`Run.follow_batches`) is one write. The frame ending in `done` or `error` (event
    id `<offset>:done`: nothing follows) goes with the end of the body, in the same write.
    """

    async def frames() -> AsyncGenerator[bytes]:
        try:
            async for item in events:
                batch = item if isinstance(item, list) else (item,)
                frame = b"".join(_frame(event) for event in batch)
                if batch and batch[-1].id.endswith(":done"):
                    response.last = frame
                yield frame
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    response = FramedStream(frames(), ping_seconds=max(1.0, ping_seconds))
    return response


def _frame(event: StreamEvent) -> bytes:
    data = json.dumps(event.data, separators=(",", ":"))
    return f"id: {event.id}\r\nevent: {event.event}\r\ndata: {data}\r\n\r\n".encode()


class FramedStream(Response):
    """An SSE response of frames already encoded, written straight to the ASGI server.

    For `/v1`, whose frames are plain `data:` lines: each item of `frames` (one or several whole
    frames) is one write, with none of sse-starlette's per-event work. A comment line pings an
    idle stream every `ping_seconds`; a client that disconnects cancels `frames` (its `finally`
    runs: settle there, shielded).
    """

    def __init__(
        self, frames: AsyncGenerator[bytes], *, ping_seconds: float, last: bytes | None = None
    ) -> None:
        # No Response.__init__: it would add a Content-Length for an empty body.
        self.status_code = 200
        self.background = None
        self.body = b""
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            *((k.lower().encode(), v.encode()) for k, v in HEADERS.items()),
        ]
        self.frames = frames
        self.ping_seconds = ping_seconds
        self.last = last  # a frame that ends the stream: written with the body's end, one write
        self._last_write = time.monotonic()
        self._streaming = False
        self._timer: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
        await send(start)
        # The start went through every layer; the body goes past those that only look at it.
        send = scope.get(BODY_SEND, send)
        # Plain asyncio, no task group: an anyio task group, its cancel scopes and a sleeping
        # ping task cost ~5% of a streamed /v1 call's CPU (bench/README.md). One task watches
        # for the client leaving and cancels this one; a timer (no task) pings when idle.
        streaming = asyncio.current_task()
        assert streaming is not None
        watcher = asyncio.create_task(_disconnect_of(receive))
        left = False  # the client went away: the cancellation is ours

        def leave(watched: asyncio.Task[None]) -> None:
            nonlocal left
            if not watched.cancelled():
                watched.exception()  # a receive that failed: the client is as good as gone
            if self._streaming:
                left = True
                streaming.cancel()

        self._streaming = True
        watcher.add_done_callback(leave)
        self._timer = asyncio.get_running_loop().call_later(self.ping_seconds, self._ping, send)
        try:
            ending = b""
            async for frame in self.frames:
                self._last_write = time.monotonic()
                if frame == self.last:
                    ending = frame
                    break
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            self._streaming = False
            await send({"type": "http.response.body", "body": ending, "more_body": False})
        except asyncio.CancelledError:
            if not left:
                raise
            streaming.uncancel()  # a client gone ends the response, as a cancelled scope did
        finally:
            self._streaming = False
            self._timer.cancel()
            watcher.cancel()
            with anyio.CancelScope(shield=True):
                await self.frames.aclose()

    def _ping(self, send: Send) -> None:
        """Ping if nothing was written for `ping_seconds`; then look again when that is due."""
        if not self._streaming:
            return
        idle = time.monotonic() - self._last_write
        if idle >= self.ping_seconds:
            self._last_write = time.monotonic()
            ping = asyncio.ensure_future(
                send({"type": "http.response.body", "body": PING, "more_body": True})
            )
            _PINGS.add(ping)
            ping.add_done_callback(_pinged)
            idle = 0.0
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.ping_seconds - idle, self._ping, send)


_PINGS: set[asyncio.Future[None]] = set()  # held until written (the loop keeps weak references)


def _pinged(ping: asyncio.Future[None]) -> None:
    _PINGS.discard(ping)
    if not ping.cancelled():
        ping.exception()  # a ping to a client gone: nothing to do


async def _disconnect_of(receive: Receive) -> None:
    """Return once the client has gone (reading and dropping anything else it sends)."""
    while (await receive())["type"] != "http.disconnect":
        pass
