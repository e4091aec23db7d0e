"""A deployment's fixed answer (LiteLLM's `mock_response`), given by the gateway without LiteLLM.

`make run`'s default catalog has a `demo` model whose deployment answers every message with one
text and calls no provider. LiteLLM answers it itself, but importing LiteLLM for that costs ~150
MB resident (bench/README.md, "LiteLLM loaded on demand"). The gateway gives the same answer in
the same shape: streamed three characters a chunk (the first with the assistant's role), a
`stop` chunk and a usage chunk counting the prompt and the text as metering counts tokens (the
text as LiteLLM did; the prompt one token a message more than LiteLLM's count, as admission
counts it); whole, with LiteLLM's fixed usage of a mock (10 prompt and 20 completion tokens
unless its `DEFAULT_MOCK_RESPONSE_*_TOKEN_COUNT` variables say otherwise). Free either way.

What LiteLLM does more is left to it (`answer_of` or `MockAnswer.covers` says no): a text that
names an error to raise (`litellm.RateLimitError`, `Exception: ...`), mock tool calls, timeouts
or delays, another provider's format, several choices (`n`), or a parameter LiteLLM may refuse.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.gateway.chunks import FORWARDED, Chunk, Usage
from core import tokens

# LiteLLM raises these instead of answering (main.py `_handle_mock_potential_exceptions`).
_RAISED = ("litellm.", "Exception:")
# LiteLLM's other mock options (tool calls, timeouts, delays): its own to play.
_OTHER_MOCKS = ("mock_tool_calls", "mock_timeout", "mock_delay")
# The call parameters LiteLLM takes for an `openai/` mock and then ignores (it refuses
# `verbosity` for a model it does not know: UnsupportedParamsError, a ProviderRejected).
_IGNORED = (FORWARDED - {"verbosity"}) | {"max_tokens", "max_completion_tokens"}
PIECE_CHARS = 3  # LiteLLM streams a mock three characters a chunk
# Chunks between turns of the event loop. A provider's stream waits on the network between reads;
# without these a long fixed answer holds the process's other requests until it is written
# whole (seconds for a few hundred KB in a chat turn). The demo's answer (~110 chunks) takes none.
TURN_EVERY = 256


@dataclass(frozen=True)
class MockAnswer:
    """A deployment that answers every call with `text` (named `model`, as LiteLLM names it)."""

    text: str
    model: str

    def covers(self, kwargs: Mapping[str, Any]) -> bool:
        """Whether a call with these parameters gets the answer LiteLLM would give."""
        return _IGNORED.issuperset(kwargs) and kwargs.get("n") in (None, 1)

    def stream(
        self, messages: Sequence[Mapping[str, Any]], kwargs: Mapping[str, Any], model_name: str
    ) -> AsyncIterator[Chunk] | None:
        """The answer streamed as LiteLLM streams it, usage last; None when LiteLLM should
        answer."""
        return _streamed(self, messages, model_name) if self.covers(kwargs) else None

    def completion(self, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """The whole answer in OpenAI's shape, as LiteLLM gives it; None when LiteLLM should
        answer."""
        if not self.covers(kwargs):
            return None
        prompt = _env_int("DEFAULT_MOCK_RESPONSE_PROMPT_TOKEN_COUNT", 10)
        completion = _env_int("DEFAULT_MOCK_RESPONSE_COMPLETION_TOKEN_COUNT", 20)
        message = {"content": self.text, "role": "assistant"}
        return {
            "id": _new_id(),
            "created": int(time.time()),
            "model": self.model,
            "object": "chat.completion",
            "choices": [{"finish_reason": "stop", "index": 0, "message": message}],
            "usage": {
                "completion_tokens": completion,
                "prompt_tokens": prompt,
                "total_tokens": prompt + completion,
            },
        }


def answer_of(params: Mapping[str, Any]) -> MockAnswer | None:
    """The fixed answer of a deployment's `litellm_params`, when the gateway can give it as
    LiteLLM would; else None."""
    text = params.get("mock_response")
    model = str(params.get("model", ""))
    if not isinstance(text, str) or not text or text.startswith(_RAISED):
        return None
    if not model.startswith("openai/") or any(params.get(k) for k in _OTHER_MOCKS):
        return None
    return MockAnswer(text=text, model=model.split("/", 1)[1])


async def _streamed(
    answer: MockAnswer, messages: Sequence[Mapping[str, Any]], model_name: str
) -> AsyncIterator[Chunk]:
    """The chunks of LiteLLM's mock stream, in OpenAI's shape (one id for the stream)."""
    head = {"id": _new_id(), "created": int(time.time()), "model": answer.model}
    head["object"] = "chat.completion.chunk"
    text = answer.text
    for index, start in enumerate(range(0, len(text), PIECE_CHARS)):
        if index and not index % TURN_EVERY:
            await asyncio.sleep(0)
        piece = text[start : start + PIECE_CHARS]
        delta = {"content": piece, "role": "assistant"} if start == 0 else {"content": piece}
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        yield Chunk(raw={**head, "choices": [choice]}, text=piece)
    done = {"finish_reason": "stop", "index": 0, "delta": {}}
    yield Chunk(raw={**head, "choices": [done]}, finish_reason="stop")
    prompt = await tokens.count_messages_off_loop(messages, model_name)
    completion = await tokens.count_text_off_loop(text, model_name)
    usage = {
        "completion_tokens": completion,
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens_details": {"reasoning_tokens": 0, "text_tokens": completion},
    }
    yield Chunk(raw={**head, "choices": [], "usage": usage}, usage=Usage(prompt, completion))


def _new_id() -> str:
    return f"chatcmpl-{uuid.uuid4()}"


def _env_int(name: str, default: int) -> int:
    """An integer from the environment, as LiteLLM reads its own (`get_env_int`)."""
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default
