"""The prompt sent to a model: the chat's history trimmed to the model's context window."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from assistant.errors import PromptTooLong
from assistant.schemas import ANSWERED
from core import tokens

CACHED_COSTS = 20_000
CACHED_FROM_CHARS = 200  # shorter texts cost less to count than to look up


class _Costs:
    """Token costs of messages already counted, by a digest of model, role and text.

    Every turn sends the chat's history again; counting each earlier message anew would cost
    more CPU than the rest of the turn's preparation. Holds digests, not texts: memory is bounded
    by the number of entries, the oldest used dropped first.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._costs: OrderedDict[bytes, int] = OrderedDict()
        self._lock = threading.Lock()  # long prompts are fitted in worker threads

    def of(self, message: dict[str, str], model: str) -> int:
        """The tokens a message adds to a prompt (its framing included, not the reply primer)."""
        content = message["content"]
        if len(content) < CACHED_FROM_CHARS:
            return tokens.count_messages([message], model) - 3
        key = hashlib.blake2b(
            f"{model}\0{message['role']}\0{content}".encode(), digest_size=16
        ).digest()
        with self._lock:
            cost = self._costs.get(key)
            if cost is not None:
                self._costs.move_to_end(key)
                return cost
        cost = tokens.count_messages([message], model) - 3
        with self._lock:
            self._costs[key] = cost
            if len(self._costs) > self.size:
                self._costs.popitem(last=False)
        return cost


_costs = _Costs(CACHED_COSTS)


@dataclass(frozen=True)
class Prompt:
    """Messages for the model, their token count, and how many old turns were left out."""

    messages: list[dict[str, str]]
    prompt_tokens: int
    dropped: int


class Said(Protocol):
    """What the model is told of a saved message."""

    @property
    def role(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def content(self) -> str: ...


def turns(history: Sequence[Said]) -> list[dict[str, str]]:
    """A chat's saved messages as model turns: user messages and answers that have text."""
    result = []
    for message in history:
        if message.role == "user":
            result.append({"role": "user", "content": message.content})
        elif message.role == "assistant" and message.status in ANSWERED and message.content:
            result.append({"role": "assistant", "content": message.content})
    return result


async def fit_off_loop(
    messages: list[dict[str, str]],
    *,
    model: str,
    context_tokens: int,
    system: str | None = None,
) -> Prompt:
    """`fit`, in a worker thread when the texts are long (a cold history of long messages
    takes seconds to count).

    Raises:
        PromptTooLong: as `fit`.
    """
    chars = sum(len(message["content"]) for message in messages) + len(system or "")
    if chars <= tokens.OFF_LOOP_CHARS:
        return fit(messages, model=model, context_tokens=context_tokens, system=system)
    return await asyncio.to_thread(
        fit, messages, model=model, context_tokens=context_tokens, system=system
    )


def fit(
    messages: list[dict[str, str]],
    *,
    model: str,
    context_tokens: int,
    system: str | None = None,
) -> Prompt:
    """Keep the newest messages that fit in `context_tokens`, always the last one and the system.

    Raises:
        PromptTooLong: the system prompt and last message alone do not fit.
    """
    head = [{"role": "system", "content": system}] if system else []
    kept: list[dict[str, str]] = []
    framing = tokens.count_messages(head, model)  # the system message and the reply primer
    budget = context_tokens - framing
    used = 0
    for message in reversed(messages):
        cost = _costs.of(message, model)
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    if not kept and messages:
        raise PromptTooLong(contextTokens=context_tokens)
    kept.reverse()
    # Counts add up message by message, so the kept ones need not be counted again.
    return Prompt(head + kept, framing + used, len(messages) - len(kept))
