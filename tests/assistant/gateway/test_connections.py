"""The relay's lean HTTP/1.1 client against a real server on loopback, answering as scripted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from assistant.errors import ProviderError
from assistant.gateway.connections import AnswerBroken, Connection, Connections, endpoint_of
from assistant.gateway.relay import Relay, Target

pytestmark = pytest.mark.anyio

Script = Callable[[asyncio.StreamWriter, int], Awaitable[None]]
HEADERS = {"Accept": "text/event-stream", "Content-Type": "application/json"}
CHUNKED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@dataclass
class Provider:
    """A server that reads each request whole and answers it with `script`."""

    script: Script
    port: int = 0
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    closed_by_client: asyncio.Event = field(default_factory=asyncio.Event)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    self.closed_by_client.set()
                    return
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append(head + await reader.readexactly(length))
                await self.script(writer, len(self.requests))
                if writer.is_closing():
                    return
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"


@pytest.fixture
async def provider() -> AsyncIterator[Callable[[Script], Awaitable[Provider]]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> Provider:
        made = Provider(script)
        server = await asyncio.start_server(made.serve, "127.0.0.1", 0)
        made.port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return made

    yield start
    for server in servers:
        server.close()


async def read_all(answer: Connection) -> bytes:
    return b"".join([data async for data in answer.reads()])


async def post(connections: Connections, url: str, body: bytes = b"{}") -> Connection:
    return await connections.post(endpoint_of(url, HEADERS), body)


async def test_an_answer_read_to_its_end_leaves_its_connection_for_the_next_call(
    provider: Callable[[Script], Awaitable[Provider]],
) -> None:
    async def in_two_writes(writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(CHUNKED + chunk(b"data: %d\n\n" % n))
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")

    served = await provider(in_two_writes)
    connections = Connections()
    try:
        for n in (1, 2, 3):
            answer = await post(connections, served.url, b'{"n":%d}' % n)
            assert answer.status == 200
            assert await read_all(answer) == b"data: %d\n\ndata: [DONE]\n\n" % n
            answer.release()
    finally:
        await connections.close()
    assert served.connections == 1
    assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in served.requests] == [
        b'{"n":1}',
        b'{"n":2}',
        b'{"n":3}',
    ]


async def test_the_request_names_its_host_length_and_headers(
    provider: Callable[[Script], Awaitable[Provider]],
) -> None:
    async def done(writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(CHUNKED + b"0\r\n\r\n")

    served = await provider(done)
    connections = Connections()
    headers = {**HEADERS, "Authorization": "Bearer k"}
    try:
        answer = await connections.post(endpoint_of(served.url + "?a=1", headers), b"{}")
        await read_all(answer)
        answer.release()
    finally:
        await connections.close()
    assert served.requests[0].split(b"\r\n") == [
        b"POST /v1/chat/completions?a=1 HTTP/1.1",
        b"Host: 127.0.0.1:%d" % served.port,
        b"Accept: text/event-stream",
        b"Content-Type: application/json",
        b"Authorization: Bearer k",
        b"Content-Length: 2",
        b"",
        b"{}",
    ]


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="line break"):
        endpoint_of("http://127.0.0.1:1/v1", {"Authorization": "Bearer k\r\nX-Evil: 1"})
    with pytest.raises(ValueError, match="http"):
        endpoint_of("ftp://127.0.0.1/v1", HEADERS)


async def test_an_answer_cut_off_mid_body_raises_and_the_next_call_connects_anew(
    provider: Callable[[Script], Awaitable[Provider]],
) -> None:
    async def cut(writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(CHUNKED + chunk(b"data: 1\n\n"))
        if n == 1:
            await writer.drain()
            writer.close()
        else:
            writer.write(b"0\r\n\r\n")

    served = await provider(cut)
    connections = Connections()
    try:
        answer = await post(connections, served.url)
        with pytest.raises(AnswerBroken):
            await read_all(answer)
        answer.release()
        answer = await post(connections, served.url)
        assert await read_all(answer) == b"data: 1\n\n"
        answer.release()
    finally:
        await connections.close()
    assert served.connections == 2


async def test_an_answer_without_a_length_ends_with_its_connection(
    provider: Callable[[Script], Awaitable[Provider]],
) -> None:
    async def until_close(writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\ndata: 1\n\n")
        await writer.drain()
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()
        writer.close()

    served = await provider(until_close)
    connections = Connections()
    try:
        answer = await post(connections, served.url)
        assert await read_all(answer) == b"data: 1\n\ndata: [DONE]\n\n"
        answer.release()
        assert answer.closed
    finally:
        await connections.close()


async def test_closing_an_answer_mid_stream_closes_its_connection_for_the_provider(
    provider: Callable[[Script], Awaitable[Provider]],
) -> None:
    async def endless(writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(CHUNKED + chunk(b"data: 1\n\n"))
        await writer.drain()

    served = await provider(endless)
    connections = Connections()
    try:
        answer = await post(connections, served.url)
        reads = answer.reads()
        assert await anext(reads) == b"data: 1\n\n"
        answer.close()
        await asyncio.wait_for(served.closed_by_client.wait(), 5)
    finally:
        await connections.close()


async def test_a_large_answer_is_read_whole_while_reading_pauses_and_resumes(
    provider: Callable[[Script], Awaitable[Provider]],
) -> None:
    piece = b"x" * 50_000

    async def large(writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(CHUNKED + b"".join(chunk(piece) for _ in range(20)) + b"0\r\n\r\n")

    served = await provider(large)
    connections = Connections()
    try:
        answer = await post(connections, served.url)
        assert len(await read_all(answer)) == 20 * len(piece)
        answer.release()
    finally:
        await connections.close()


async def test_a_relayed_error_status_and_an_unreachable_provider_are_provider_errors(
    provider: Callable[[Script], Awaitable[Provider]],
) -> None:
    async def refused(writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 2\r\n\r\n{}")

    served = await provider(refused)
    relay = Relay()
    try:
        with pytest.raises(ProviderError, match="answered 429"):
            await relay.stream(Target(url=served.url, model="m", api_key=None), {})
        closed = Target(url="http://127.0.0.1:1/v1/chat/completions", model="m", api_key=None)
        with pytest.raises(ProviderError, match="Cannot reach"):
            await relay.stream(closed, {})
    finally:
        await relay.close()
