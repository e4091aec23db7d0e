"""OpenAI's legacy completions (`/v1/completions`) over chat completions.

Each prompt becomes one user message of a metered passthrough call, as LiteLLM bridges a text
completion to a chat model; the answer comes back as `text_completion` choices.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from assistant.gateway.chunks import Chunk
from assistant.gateway.metering import FREE
from assistant.gateway.passthrough import Passthrough, Request
from assistant.schemas import MessageStatus
from billing.admission import Caller

PROMPT_FIELDS = {"prompt", "stream", "stream_options", "n", "echo", "best_of", "suffix"}


def completion_id() -> str:
    """A new id in OpenAI's style."""
    return "cmpl-" + secrets.token_hex(12)


def to_chat(body: Mapping[str, Any], prompt: str) -> dict[str, Any]:
    """The chat-completions body for one prompt of a completions request."""
    chat = {k: v for k, v in body.items() if k not in PROMPT_FIELDS}
    chat["messages"] = [{"role": "user", "content": prompt}]
    return chat


async def admit_all(
    passthrough: Passthrough, *, caller: Caller, bodies: Sequence[Mapping[str, Any]]
) -> list[Request]:
    """Admit one call per prompt, all or none: a refused one releases those admitted before it.

    Raises:
        UnknownModel: no such model.
        ModelUnavailable: the model is not set up.
        BillingError: billing refused a call (seat, budget, rate limit, model).
    """
    requests: list[Request] = []
    try:
        for body in bodies:
            requests.append(await passthrough.admit(caller=caller, body=body))
    except BaseException:
        for request in requests:  # nothing was called: they cost nothing
            await request.call.settle(MessageStatus.FAILED, FREE, estimated=True)
        raise
    return requests


async def complete_all(
    passthrough: Passthrough, requests: Sequence[Request], *, model: str
) -> dict[str, Any]:
    """The admitted calls' answers, together, as one `text_completion` (a choice per prompt).

    Raises:
        ProviderError: a provider failed.
        ProviderRejected: a provider refused a request.
    """
    answers = await asyncio.gather(*(passthrough.complete(request) for request in requests))
    choices = []
    prompt_tokens = completion_tokens = 0
    for index, answer in enumerate(answers):
        choice = (answer.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        choices.append(
            {
                "text": message.get("content") or "",
                "index": index,
                "logprobs": None,
                "finish_reason": choice.get("finish_reason") or "stop",
            }
        )
        usage = answer.get("usage") or {}
        prompt_tokens += int(usage.get("prompt_tokens") or 0)
        completion_tokens += int(usage.get("completion_tokens") or 0)
    return {
        "id": completion_id(),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class TextStream:
    """One streamed chat answer as `text_completion` chunks (JSON, for `data:` lines)."""

    def __init__(self, *, model: str, include_usage: bool) -> None:
        self.id = completion_id()
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage

    def chunk(self, chunk: Chunk) -> bytes | None:
        """The chunk's JSON, or None when it says nothing this API carries."""
        if chunk.usage is not None and not chunk.text and not chunk.finish_reason:
            if not self.include_usage:
                return None
            usage = {
                "prompt_tokens": chunk.usage.prompt_tokens,
                "completion_tokens": chunk.usage.completion_tokens,
                "total_tokens": chunk.usage.prompt_tokens + chunk.usage.completion_tokens,
            }
            return self._json([], usage)
        if not chunk.text and not chunk.finish_reason:
            return None
        choice = {
            "text": chunk.text,
            "index": 0,
            "logprobs": None,
            "finish_reason": chunk.finish_reason,
        }
        return self._json([choice])

    def _json(self, choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        out: dict[str, Any] = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None:
            out["usage"] = usage
        return json.dumps(out, separators=(",", ":")).encode()
