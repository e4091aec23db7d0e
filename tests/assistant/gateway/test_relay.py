"""The relay's shared HTTP client: what one call leaves behind must not reach another's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from assistant.gateway.relay import Relay, Target

pytestmark = pytest.mark.anyio
_DONE = b'data: {"id":"c","choices":[],"usage":null}\n\ndata: [DONE]\n\n'


@pytest.fixture
async def provider() -> AsyncIterator[tuple[str, list[str | None]]]:
    """A provider on loopback that sets a cookie on every answer and records the cookies sent
    (and the keys used) with each call."""
    seen: list[str | None] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Cookie"))
        await request.read()
        response = web.Response(body=_DONE, content_type="text/event-stream")
        key = request.headers.get("Authorization", "")
        response.set_cookie("session", f"of {key}", path="/")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    # a host name: aiohttp keeps no cookie of an IP address, as a provider is named
    yield f"http://localhost:{port}/v1/chat/completions", seen
    await runner.cleanup()


async def test_a_cookie_a_provider_sets_for_one_call_is_never_sent_with_another(
    provider: tuple[str, list[str | None]],
) -> None:
    url, seen = provider
    relay = Relay()
    try:
        for key in ("key-of-alice", "key-of-bob"):
            stream = await relay.stream(Target(url=url, model="m", api_key=key), {"messages": []})
            async for _chunk in stream:
                pass
            await stream.aclose()
    finally:
        await relay.close()

    assert seen == [None, None]
