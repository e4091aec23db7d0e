"""The SSE response of /v1 and chat (`api.sse.FramedStream`) on a plain ASGI receive and send."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest
from starlette.types import Message

from api.sse import PING, FramedStream, event_stream
from assistant.chat.runs import Run
from assistant.schemas import MessageStatus

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_an_idle_stream_is_pinged_and_then_ends_with_every_frame() -> None:
    pinged = asyncio.Event()
    sent: list[Message] = []

    async def frames() -> AsyncGenerator[bytes]:
        yield b"data: 1\r\n\r\n"
        await asyncio.wait_for(pinged.wait(), 5)  # idle until the stream was pinged
        yield b"data: 2\r\n\r\n"

    async def send(message: Message) -> None:
        sent.append(message)
        if message.get("body") == PING:
            pinged.set()

    async def receive() -> Message:
        await asyncio.Event().wait()  # the client never leaves
        raise AssertionError

    await FramedStream(frames(), ping_seconds=0.01)({}, receive, send)
    bodies = [m.get("body") for m in sent if m["type"] == "http.response.body"]
    assert bodies[0] == b"data: 1\r\n\r\n"
    assert PING in bodies
    assert bodies[-2:] == [b"data: 2\r\n\r\n", b""]
    assert sent[-1]["more_body"] is False


async def test_a_client_that_leaves_cancels_the_frames_and_the_response_just_ends() -> None:
    leave = asyncio.Event()
    closed = asyncio.Event()
    sent: list[Message] = []

    async def frames() -> AsyncGenerator[bytes]:
        try:
            yield b"data: 1\r\n\r\n"
            leave.set()
            await asyncio.Event().wait()  # a provider that never answers again
            yield b"data: never\r\n\r\n"
        finally:
            closed.set()

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        await leave.wait()
        return {"type": "http.disconnect"}

    streaming = asyncio.ensure_future(FramedStream(frames(), ping_seconds=15)({}, receive, send))
    await asyncio.wait_for(streaming, 5)
    assert closed.is_set()
    assert [m.get("body") for m in sent[1:]] == [b"data: 1\r\n\r\n"]  # no end: the client left
    assert streaming.cancelling() == 0  # the response ended as any other: nothing left pending


async def test_the_last_frame_goes_out_with_the_end_of_the_body_in_one_write() -> None:
    sent: list[Message] = []

    async def frames() -> AsyncGenerator[bytes]:
        yield b"data: 1\n\n"
        yield b"data: [DONE]\n\n"

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        await asyncio.Event().wait()
        raise AssertionError

    await FramedStream(frames(), ping_seconds=15, last=b"data: [DONE]\n\n")({}, receive, send)
    assert [(m["body"], m["more_body"]) for m in sent[1:]] == [
        (b"data: 1\n\n", True),
        (b"data: [DONE]\n\n", False),
    ]


async def test_a_chat_answer_ends_its_body_with_the_frame_holding_done() -> None:
    sent: list[Message] = []
    run = Run(chat_id="c", message_id="m", model="fake")
    run.append("Hello")

    async def send(message: Message) -> None:
        sent.append(message)
        if message.get("body", b"").startswith(b"id: 0:start"):  # the answer goes on, then ends
            run.append(" world")
            run.finish(MessageStatus.COMPLETE, usage={"promptTokens": 1}, error=None)

    async def receive() -> Message:
        await asyncio.Event().wait()
        raise AssertionError

    await event_stream(run.follow_batches(None), ping_seconds=15)({}, receive, send)
    bodies = [(m["body"], m["more_body"]) for m in sent[1:]]
    assert [more for _, more in bodies] == [True, False]  # two writes, the second the end
    assert bodies[0][0].count(b"event: ") == 2  # start, and the text already written
    assert bodies[1][0].count(b"event: ") == 3 and b"event: done" in bodies[1][0]
