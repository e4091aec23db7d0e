"""The fast streaming path: relay an OpenAI-format provider's chunks with minimal parsing.

LiteLLM still chooses the deployment (load balancing, cooldowns, credentials); only the streamed
call itself goes through one shared HTTP client. It parses just enough of each chunk to save
text, count tokens and settle, and it knows whether the provider reported usage.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from assistant.errors import ProviderError

ENV_PREFIX = "os.environ/"
_FAST_PROVIDERS = ("openai/", "hosted_vllm/", "openai_like/")


@dataclass(frozen=True)
class Usage:
    """Tokens a call used, as the provider reported them."""

    prompt_tokens: int
    completion_tokens: int


@dataclass
class Chunk:
    """One piece of a streamed answer: text, tool-call fragments, usage or a finish reason."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


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
    """One shared HTTP client per process for direct streamed calls."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The shared client, made on first use (inside the event loop)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(connect=10, read=300, write=30, pool=30),
                limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
            )
        return self._client

    async def close(self) -> None:
        """Close the shared client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def stream(self, target: Target, body: dict[str, Any]) -> AsyncIterator[Chunk]:
        """Open a streamed call; raises before returning if the provider refuses it.

        Raises:
            ProviderError: the connection failed or the provider answered with an error status.
        """
        headers = {"Accept": "text/event-stream"}
        if target.api_key:
            headers["Authorization"] = f"Bearer {target.api_key}"
        payload = {
            **body,
            "model": target.model,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        request = self.client.build_request("POST", target.url, json=payload, headers=headers)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ProviderError(f"Cannot reach the provider: {type(exc).__name__}.") from exc
        if response.status_code >= 400:
            await response.aclose()
            raise ProviderError(
                f"The provider answered {response.status_code}.",
                providerStatus=response.status_code,
            )
        return _chunks(response)


async def _chunks(response: httpx.Response) -> AsyncIterator[Chunk]:
    try:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            yield parse_chunk(json.loads(data))
    except asyncio.CancelledError:
        raise
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderError(f"The provider's stream broke: {type(exc).__name__}.") from exc
    finally:
        await response.aclose()


def parse_chunk(raw: dict[str, Any]) -> Chunk:
    """The parts of an OpenAI chunk Switchboard needs."""
    chunk = Chunk(raw=raw)
    usage = raw.get("usage")
    if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
        chunk.usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage["completion_tokens"]))
    choices = raw.get("choices") or []
    if choices:
        delta = choices[0].get("delta") or {}
        chunk.text = delta.get("content") or ""
        chunk.finish_reason = choices[0].get("finish_reason")
        chunk.tool_calls = list(delta.get("tool_calls") or [])
    return chunk
