"""Kept-alive HTTP/1.1 connections to providers for relayed streams: a lean client.

A streamed call writes its request in one piece on a kept-alive connection and reads the answer
through llhttp (httptools, the parser uvicorn serves with): no request, header, URL or reader
objects per call and no body-writer task, which were most of the CPU aiohttp's client spent on a
call (a 20-chunk stream from bench/upstream.py, opened, read and parsed in process: ~320 us with
aiohttp, ~185 with this). What it leaves out stays with aiohttp: proxied calls (the relay sends
those through it), redirects (a provider's 3xx is an error status), compressed answers (none are
asked for: no `Accept-Encoding` is sent), a cap on open connections.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.parse
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

import httptools

IDLE_SECONDS = 15.0  # a connection idle this long is closed rather than reused (as aiohttp does)
PAUSE_BYTES = 1 << 16  # unread answer bytes that pause reading from the socket


class AnswerBroken(ConnectionError):
    """The provider's answer was cut off or was not valid HTTP."""


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where a request goes: the connection's address and the request's first lines."""

    scheme: str
    host: str
    port: int
    head: bytes  # request line and headers, `Content-Length` last and without its value

    @property
    def key(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


def endpoint_of(url: str, headers: dict[str, str]) -> Endpoint:
    """A POST to `url` with these headers, ready to be written.

    Raises:
        ValueError: not an http(s) URL with a host, or a header holds a line break.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    named = f"[{host}]" if ":" in host else host
    default = port == (443 if parts.scheme == "https" else 80)
    path = urllib.parse.quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    target = path + (f"?{parts.query}" if parts.query else "")
    lines = [f"POST {target} HTTP/1.1", f"Host: {named if default else f'{named}:{port}'}"]
    for name, value in headers.items():
        if any(c in value or c in name for c in "\r\n\0"):
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}")
    lines.append("Content-Length: ")
    head = "\r\n".join(lines).encode("latin-1")
    return Endpoint(scheme=parts.scheme, host=host, port=port, head=head)


class Connection(asyncio.Protocol):
    """One connection, and the answer being read on it."""

    def __init__(self, pool: Connections, key: tuple[str, str, int]) -> None:
        self._pool = pool
        self.key = key
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.ended = False  # the whole answer was read off the socket
        self.released = False
        self._error: BaseException | None = None
        self._body: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._headers: asyncio.Future[None] = self.loop.create_future()
        self._waiter: asyncio.Future[None] | None = None
        self._delimited = False  # Content-Length or chunked: the end is in the answer itself
        self._keep_alive = False

    @property
    def closed(self) -> bool:
        """Whether the answer is done with: released, or its connection closed by either side."""
        return self.released or self.transport is None or self.transport.is_closing()

    # The connection's side (asyncio.Protocol, and llhttp's callbacks).

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(AnswerBroken(f"not a valid HTTP answer: {exc}"))
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._delimited = True

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()  # llhttp knows it until the end
        if not self._headers.done():
            self._headers.set_result(None)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > PAUSE_BYTES and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.ended = True
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._headers.done() and not self._delimited:
            self.ended = True  # an answer delimited by the connection's end
        elif not self.ended:
            self._fail(AnswerBroken("the provider closed the connection"))
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        if not self._headers.done():
            self._headers.set_exception(error)
            self._headers.exception()  # retrieved: a call cancelled meanwhile logs nothing
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # The caller's side.

    async def started(self) -> None:
        """Wait for the answer's status line and headers."""
        await self._headers

    async def reads(self) -> AsyncIterator[bytes]:
        """The answer's body as it arrives, whatever has arrived at a time, until its end.

        Raises:
            AnswerBroken: the connection was cut before the answer's end.
            TimeoutError: nothing arrived for the pool's read timeout.
        """
        while True:
            if self._body:
                data = b"".join(self._body)
                self._body.clear()
                self._buffered = 0
                if self._paused and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                yield data
            elif self.ended:
                return
            elif self._error is not None:
                raise self._error
            else:
                self._waiter = self.loop.create_future()
                try:
                    async with asyncio.timeout(self._pool.read_seconds):
                        await self._waiter
                finally:
                    self._waiter = None

    def release(self) -> None:
        """Done with the answer: the connection is kept for the next call when the answer was
        read to its end and both sides keep it alive, else closed."""
        if self.released:
            return
        self.released = True
        if self.ended and not self._body and not self.lost and self._keep_alive:
            self._pool._keep(self)
        else:
            self.close()

    @property
    def transport_closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def close(self) -> None:
        """Close the connection (a provider stops an answer whose connection closes)."""
        self.released = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class Connections:
    """The kept-alive connections of one process's relay, by provider address."""

    def __init__(self, *, connect_seconds: float = 10.0, read_seconds: float = 300.0) -> None:
        self.connect_seconds = connect_seconds
        self.read_seconds = read_seconds
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def post(self, endpoint: Endpoint, body: bytes) -> Connection:
        """Send a POST and wait for its answer's headers; the caller reads and releases it.

        Raises:
            OSError: the connection could not be made or broke before the answer began.
            TimeoutError: connecting took longer than `connect_seconds`, or the headers longer
                than `read_seconds`.
        """
        answer = self._reused(endpoint.key) or await self._connect(endpoint)
        assert answer.transport is not None
        answer.transport.write(endpoint.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        try:
            async with asyncio.timeout(self.read_seconds):
                await answer.started()
        except BaseException:
            answer.close()
            raise
        return answer

    async def close(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, {}
        for answers in idle.values():
            for answer in answers:
                answer.close()

    def _reused(self, key: tuple[str, str, int]) -> Connection | None:
        idle = self._idle.get(key)
        now, loop = time.monotonic(), asyncio.get_running_loop()
        while idle:
            answer = idle.pop()
            if answer.loop is not loop:
                continue  # left by an event loop that has ended
            fresh = now - answer.idle_since < IDLE_SECONDS
            if fresh and not answer.lost and not answer.transport_closing:
                answer._reset()
                return answer
            answer.close()
        return None

    async def _connect(self, endpoint: Endpoint) -> Connection:
        loop = asyncio.get_running_loop()
        tls = None
        if endpoint.scheme == "https":
            if self._tls is None:  # reads the system's certificates: not on the event loop
                self._tls = await asyncio.to_thread(_tls_context)
            tls = self._tls
        async with asyncio.timeout(self.connect_seconds):
            _, answer = await loop.create_connection(
                lambda: Connection(self, endpoint.key),
                endpoint.host,
                endpoint.port,
                ssl=tls,
                server_hostname=endpoint.host if tls else None,
            )
        return answer

    def _keep(self, answer: Connection) -> None:
        answer.idle_since = now = time.monotonic()
        idle = self._idle.setdefault(answer.key, [])
        while idle and (idle[0].lost or now - idle[0].idle_since >= IDLE_SECONDS):
            idle.pop(0).close()  # the oldest, unused since a burst: closed by now or soon
        idle.append(answer)


def _tls_context() -> ssl.SSLContext:
    """The system's verified TLS context, speaking HTTP/1.1 (as aiohttp's default)."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context
