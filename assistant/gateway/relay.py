"""The fast streaming path: relay an OpenAI-format provider's chunks with minimal parsing.

LiteLLM still chooses the deployment (load balancing, cooldowns, credentials); only the streamed
call itself goes through one shared HTTP client. It parses just enough of each chunk to save
text, count tokens and settle, and it knows whether the provider reported usage.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic_core import from_json

from assistant.errors import ProviderError
from assistant.gateway.chunks import Chunk, reasoning_in, usage_of

ENV_PREFIX = "os.environ/"
_FAST_PROVIDERS = ("openai/", "hosted_vllm/", "openai_like/")
DRAIN_SECONDS = 2.0


@dataclass(frozen=True)
class Target:
    """Where and how to call one deployment directly."""

    url: str
    model: str
    api_key: str | None


def target_of(params: Mapping[str, Any]) -> Target | None:
    """The direct target of a deployment, when it speaks OpenAI's wire format; else None."""
    model = str(params.get("model", ""))
    base = params.get("api_base")
    if not base or "mock_response" in params or not model.startswith(_FAST_PROVIDERS):
        return None
    key = params.get("api_key")
    if isinstance(key, str) and key.startswith(ENV_PREFIX):
        key = os.environ.get(key.removeprefix(ENV_PREFIX))
    url = str(base).rstrip("/") + "/chat/completions"
    return Target(url=url, model=model.split("/", 1)[1], api_key=key or None)


class Relay:
    """One shared HTTP client per process for direct streamed calls.

    aiohttp rather than httpx: its C parser and plain byte reads cost a fraction of httpx's
    per-read work, which was most of what a relayed chunk cost (bench/README.md).
    """

    def __init__(self) -> None:
        self._client: aiohttp.ClientSession | None = None

    @property
    def client(self) -> aiohttp.ClientSession:
        """The shared client, made on first use (inside the event loop)."""
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300),
                skip_auto_headers=("User-Agent",),
                # One client serves every caller: a cookie a provider sets on one caller's call
                # must not ride along with the next caller's.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._client

    async def close(self) -> None:
        """Close the shared client."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def stream(self, target: Target, body: dict[str, Any]) -> ChunkStream:
        """Open a streamed call; raises before returning if the provider refuses it.

        Raises:
            ProviderError: the connection failed or the provider answered with an error status.
        """
        headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
        if target.api_key:
            headers["Authorization"] = f"Bearer {target.api_key}"
        payload = {
            **body,
            "model": target.model,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        try:
            response = await self.client.post(
                target.url,
                data=json.dumps(payload).encode(),
                headers=headers,
                proxy=env_proxy(target.url),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(f"Cannot reach the provider: {type(exc).__name__}.") from exc
        if response.status >= 400:
            response.close()
            raise ProviderError(
                f"The provider answered {response.status}.", providerStatus=response.status
            )
        return ChunkStream(response)

    async def post_json(
        self, url: str, payload: dict[str, Any], api_key: str | None
    ) -> dict[str, Any]:
        """One JSON request and its whole JSON answer (the fast path of embeddings).

        Raises:
            ProviderError: the connection failed, the provider answered with an error status,
                or its answer was not a JSON object.
        """
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        data = json.dumps(payload).encode()
        try:
            async with self.client.post(
                url, data=data, headers=headers, proxy=env_proxy(url)
            ) as response:
                if response.status >= 400:
                    raise ProviderError(
                        f"The provider answered {response.status}.",
                        providerStatus=response.status,
                    )
                answer = json.loads(await response.read())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderError(f"The provider's answer failed: {type(exc).__name__}.") from exc
        if not isinstance(answer, dict):
            raise ProviderError("The provider's answer was not a JSON object.")
        return answer


@functools.lru_cache(maxsize=256)
def env_proxy(url: str) -> str | None:
    """The proxy HTTP(S)_PROXY / NO_PROXY name for a URL, as httpx would use, read once per URL.

    (aiohttp's own `trust_env` looks it up in a worker thread on every request.)
    """
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies_environment().get(parts.scheme)


class ChunkStream(AsyncIterator[Chunk]):
    """A relayed answer: its chunks one by one, or as they arrived, a network read at a time."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._batches: AsyncGenerator[list[Chunk]] | None = None
        self._pending: deque[Chunk] = deque()

    async def __anext__(self) -> Chunk:
        while not self._pending:
            if self._batches is None:
                self._batches = self.batches()
            self._pending.extend(await anext(self._batches))
        return self._pending.popleft()

    async def aclose(self) -> None:
        """Stop reading and close the connection."""
        if self._batches is not None:
            await self._batches.aclose()
        if not self._response.closed:
            self._response.close()

    async def batches(self) -> AsyncGenerator[list[Chunk]]:
        """The chunks of each read from the provider (the connection closes however it ends).

        Raises:
            ProviderError: the stream broke, or a chunk was not JSON.
        """
        response = self._response
        pending = b""
        try:
            async for data in response.content.iter_any():
                pending += data
                if b"\r" in pending:  # CRLF line ends; a lone CR at the end waits for its LF
                    pending = pending.replace(b"\r\n", b"\n")
                *events, pending = pending.split(b"\n\n")
                batch, done = _parse_events(events)
                if batch:
                    yield batch
                if done:
                    await _drain(response)
                    return
        except asyncio.CancelledError:
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderError(f"The provider's stream broke: {type(exc).__name__}.") from exc
        finally:
            if response.content.at_eof():
                response.release()  # read to the end: the connection goes back to the pool
            else:
                response.close()  # cut off: closing it tells the provider to stop


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read what follows `[DONE]` (the body's end) so the connection can be kept alive."""
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in response.content.iter_any():
                pass


def _parse_events(events: list[bytes]) -> tuple[list[Chunk], bool]:
    """The chunks of complete SSE events, and whether `[DONE]` was among them."""
    batch: list[Chunk] = []
    for event in events:
        if event.startswith(b"data:") and b"\n" not in event:  # one line: nearly every event
            data = event[5:].strip()
        else:
            lines = [line for line in event.split(b"\n") if line.startswith(b"data:")]
            if not lines:
                continue
            data = b"\n".join(line[5:].strip() for line in lines)
        if data == b"[DONE]":
            return batch, True
        chunk = parse_chunk(chunk_json(data))
        chunk.data = data
        batch.append(chunk)
    return batch, False


def chunk_json(data: bytes) -> Any:
    """A chunk's JSON, parsed by pydantic_core (~1 us a chunk against json.loads's ~3, 21 times a
    20-chunk stream: bench/README.md); what it refuses goes to json.loads, which decides as before
    (it accepts a lone surrogate escape, which pydantic_core does not)."""
    try:
        return from_json(data)
    except ValueError:
        return json.loads(data)


def parse_chunk(raw: dict[str, Any]) -> Chunk:
    """The parts of an OpenAI chunk Switchboard needs."""
    usage = raw.get("usage")
    used = usage_of(usage) if isinstance(usage, dict) else None
    choices = raw.get("choices")
    if not choices:
        return Chunk(raw=raw, usage=used)
    delta = choices[0].get("delta") or {}
    return Chunk(
        raw=raw,
        usage=used,
        text=delta.get("content") or "",
        reasoning=reasoning_in(delta),
        finish_reason=choices[0].get("finish_reason"),
        tool_calls=list(delta.get("tool_calls") or ()),
    )
