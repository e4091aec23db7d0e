"""The reference target of the gateway benchmark: a bare parsing relay, no auth and no billing.

Starlette + uvicorn (as Switchboard serves) and one shared aiohttp client (as Switchboard's relay
uses): `POST /v1/chat/completions` is sent on to the upstream streamed, and each SSE event of the
answer is parsed as JSON (what any gateway must do to meter a stream) and written on to the client
as it arrived, a write per upstream read. No accounts, rate limits, budgets, usage rows or
logging: what is left is the floor of a Python gateway on this stack.

    python bench/bare_relay.py --port 9001 --upstream http://127.0.0.1:9000/v1
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


async def relayed(answer: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The upstream's SSE events, each parsed as JSON (its usage read), a write per read."""
    pending = b""
    tokens = 0
    try:
        async for data in answer.content.iter_any():
            pending += data
            *events, pending = pending.split(b"\n\n")
            out = []
            for event in events:
                payload = event.removeprefix(b"data: ")
                if payload != b"[DONE]":
                    chunk: dict[str, Any] = json.loads(payload)
                    usage = chunk.get("usage")
                    if usage:
                        tokens += int(usage.get("completion_tokens") or 0)
                out.append(event + b"\n\n")
            if out:
                yield b"".join(out)
    finally:
        answer.release()


class Relay:
    """Calls on to `upstream` (an OpenAI-compatible base URL) through one shared client."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.client: aiohttp.ClientSession | None = None

    async def completions(self, request: Request) -> Response:
        if self.client is None:
            connector = aiohttp.TCPConnector(limit=1000, limit_per_host=0)
            self.client = aiohttp.ClientSession(connector=connector)
        body = json.loads(await request.body())
        answer = await self.client.post(
            self.upstream + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        if answer.status >= 400:
            text = await answer.text()
            answer.release()
            return JSONResponse({"error": text}, status_code=answer.status)
        return StreamingResponse(relayed(answer), media_type="text/event-stream")

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": []})

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        if self.client is not None:
            await self.client.close()


def create(upstream: str) -> Starlette:
    """The relay's app."""
    relay = Relay(upstream)
    routes = [
        Route("/v1/chat/completions", relay.completions, methods=["POST"]),
        Route("/v1/models", relay.models),
    ]
    return Starlette(routes=routes, lifespan=relay.lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    uvicorn.run(create(args.upstream), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
