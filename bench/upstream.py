"""A lean OpenAI-compatible upstream for benchmarks: asyncio and pre-rendered bytes, no framework.

The test fake (tests/fakes/upstream.py, Starlette in a thread) spends ~1 ms of CPU per stream and
records every request; at several hundred streams/s it competes for the same two cores as the
servers measured. This one answers `POST /v1/chat/completions` for model `chunks-N` with exactly N
content chunks (then the finish chunk, the usage chunk when asked, and `[DONE]`), streamed with
chunked transfer encoding on kept-alive connections, and `GET /v1/models`.

With `--chunk-delay-ms` (a slow provider) the pieces go out from one timer shared by every stream
(`Ticker`, a raw `asyncio.Protocol` per connection): ~0.1 ms of CPU a 20-chunk stream, so the
bench's upstream takes little of the cores it shares with the server measured.

    python bench/upstream.py --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from functools import lru_cache
from typing import cast

TEXT = "lorem ipsum dolor sit amet " * 40


@lru_cache(maxsize=64)
def stream_body(model: str, usage: bool) -> bytes:
    """The whole chunked SSE body of an answer (the same bytes every time)."""
    return b"".join(stream_pieces(model, usage))


@lru_cache(maxsize=64)
def stream_pieces(model: str, usage: bool) -> tuple[bytes, ...]:
    """The chunked SSE body of an answer, a piece per chunk."""
    count = _chunks_of(model)
    size = max(1, len(TEXT) // count)
    pieces = [TEXT[i * size : (i + 1) * size] for i in range(count)]
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": int(time.time())}
    events = []
    for index, piece in enumerate(pieces):
        delta = {"content": piece} if index else {"role": "assistant", "content": piece}
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        events.append({**base, "model": model, "choices": [choice]})
    finish = {"index": 0, "delta": {}, "finish_reason": "stop"}
    events.append({**base, "model": model, "choices": [finish]})
    if usage:
        counts = {"prompt_tokens": 10, "completion_tokens": count, "total_tokens": 10 + count}
        events.append({**base, "model": model, "choices": [], "usage": counts})
    frames = [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events]
    frames.append(b"data: [DONE]\n\n")
    return (*(b"%x\r\n%s\r\n" % (len(f), f) for f in frames), b"0\r\n\r\n")


def whole_body(model: str) -> bytes:
    """A non-streamed completion."""
    count = _chunks_of(model)
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": TEXT},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": count, "total_tokens": 10 + count},
    }
    return json.dumps(body).encode()


def _chunks_of(model: str) -> int:
    digits = model.rsplit("-", 1)[-1]
    return max(1, int(digits)) if digits.isdigit() else 20


WRITE_EACH = False  # --write-each: one write per chunk, yielding to the loop between them
CHUNK_DELAY = 0.0  # --chunk-delay-ms: a slow provider, this long before each further chunk


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer requests on one connection until the client closes it."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in header_lines if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            for piece in _answer(method, path, body):
                writer.write(piece)
                if WRITE_EACH or CHUNK_DELAY:
                    await writer.drain()
                    await asyncio.sleep(CHUNK_DELAY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _answer(method: str, path: str, body: bytes) -> tuple[bytes, ...]:
    if method == "GET" and path.startswith("/v1/models"):
        payload = b'{"object":"list","data":[]}'
        return (_response(b"application/json", payload),)
    if method != "POST" or not path.startswith("/v1/chat/completions"):
        return (_response(b"application/json", b'{"error":{"message":"not found"}}', b"404"),)
    request = json.loads(body or b"{}")
    model = str(request.get("model", "chunks-20"))
    if not request.get("stream"):
        return (_response(b"application/json", whole_body(model)),)
    usage = bool((request.get("stream_options") or {}).get("include_usage"))
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    if WRITE_EACH or CHUNK_DELAY:
        return (head, *stream_pieces(model, usage))
    return (head + stream_body(model, usage),)


def _response(kind: bytes, payload: bytes, status: bytes = b"200") -> bytes:
    return (
        b"HTTP/1.1 %s X\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n"
        % (status, kind, len(payload))
        + payload
    )


class Paced(asyncio.Protocol):
    """A slow provider at the least CPU: one connection, its requests parsed from the raw bytes,
    its answer's pieces written by the shared `Ticker` (no task, future or timer per stream)."""

    def __init__(self, ticker: Ticker) -> None:
        self.ticker = ticker
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def _next(self) -> None:
        """Start the next whole request in the buffer, if any."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.transport is None:
            return
        head = self.buffer[:end].decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        method, path, _ = head.split(" ", 2)
        pieces = _answer(method, path, body)
        self.transport.write(pieces[0])
        if len(pieces) == 1:
            self._next()
            return
        self.busy = True
        self.ticker.add(self, pieces[1:])

    def finished(self) -> None:
        self.busy = False
        self._next()


class Ticker:
    """Every `delay` seconds, the next piece of every answer in flight: one timer for all."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.streams: list[tuple[Paced, tuple[bytes, ...], int]] = []
        self.loop = asyncio.get_running_loop()
        self.loop.call_later(delay, self.tick)

    def add(self, protocol: Paced, pieces: tuple[bytes, ...]) -> None:
        self.streams.append((protocol, pieces, 0))

    def tick(self) -> None:
        self.loop.call_later(self.delay, self.tick)
        going: list[tuple[Paced, tuple[bytes, ...], int]] = []
        done: list[Paced] = []
        for protocol, pieces, sent in self.streams:
            transport = protocol.transport
            if transport is None:
                continue
            transport.write(pieces[sent])
            if sent + 1 < len(pieces):
                going.append((protocol, pieces, sent + 1))
            else:
                done.append(protocol)
        self.streams = going
        for protocol in done:
            protocol.finished()


async def main(port: int) -> None:
    """Serve on 127.0.0.1 until interrupted."""
    if CHUNK_DELAY and not WRITE_EACH:
        ticker = Ticker(CHUNK_DELAY)
        loop = asyncio.get_running_loop()
        paced = await loop.create_server(lambda: Paced(ticker), "127.0.0.1", port, backlog=1024)
        async with paced:
            await paced.serve_forever()
        return
    server = await asyncio.start_server(serve_connection, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def run() -> None:
    """The command line."""
    global WRITE_EACH, CHUNK_DELAY
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--write-each", action="store_true", help="a write per chunk")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="a slow provider")
    args = parser.parse_args()
    WRITE_EACH = args.write_each
    CHUNK_DELAY = args.chunk_delay_ms / 1000
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.port))


if __name__ == "__main__":
    run()
