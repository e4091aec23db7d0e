"""Server-sent events: an answer's events as an SSE response that proxies do not buffer."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from assistant.chat.runs import StreamEvent

HEADERS = {"X-Accel-Buffering": "no", "Cache-Control": "no-cache"}
PING = b": ping\r\n\r\n"


def event_stream(events: AsyncIterator[StreamEvent], *, ping_seconds: float) -> FramedStream:
    """An SSE response carrying each event with its id, name and JSON data.

    Framed as sse-starlette frames them (CRLF line ends), written with `FramedStream`.
    """

    async def frames() -> AsyncGenerator[bytes]:
        try:
            async for event in events:
                data = json.dumps(event.data, separators=(",", ":"))
                yield f"id: {event.id}\r\nevent: {event.event}\r\ndata: {data}\r\n\r\n".encode()
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    return FramedStream(frames(), ping_seconds=max(1.0, ping_seconds))


class FramedStream(Response):
    """An SSE response of frames already encoded, written straight to the ASGI server.

    For `/v1`, whose frames are plain `data:` lines: each item of `frames` (one or several whole
    frames) is one write, with none of sse-starlette's per-event work. A comment line pings an
    idle stream every `ping_seconds`; a client that disconnects cancels `frames` (its `finally`
    runs: settle there, shielded).
    """

    def __init__(self, frames: AsyncGenerator[bytes], *, ping_seconds: float) -> None:
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
        self._last_write = time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
        await send(start)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._watch, receive, group.cancel_scope)
                group.start_soon(self._ping, send)
                async for frame in self.frames:
                    self._last_write = time.monotonic()
                    await send({"type": "http.response.body", "body": frame, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.frames.aclose()

    async def _watch(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        scope.cancel()

    async def _ping(self, send: Send) -> None:
        while True:
            await anyio.sleep(self.ping_seconds)
            if time.monotonic() - self._last_write >= self.ping_seconds:
                self._last_write = time.monotonic()
                await send({"type": "http.response.body", "body": PING, "more_body": True})
