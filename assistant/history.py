"""The prompt sent to a model: the chat's history trimmed to the model's context window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assistant.errors import PromptTooLong
from assistant.models import Message
from core import tokens

ANSWERED = {"complete", "incomplete", "cancelled", "interrupted"}


@dataclass(frozen=True)
class Prompt:
    """Messages for the model, their token count, and how many old turns were left out."""

    messages: list[dict[str, str]]
    prompt_tokens: int
    dropped: int


def turns(history: Sequence[Message]) -> list[dict[str, str]]:
    """A chat's saved messages as model turns: user messages and answers that have text."""
    result = []
    for message in history:
        if message.role == "user":
            result.append({"role": "user", "content": message.content})
        elif message.role == "assistant" and message.status in ANSWERED and message.content:
            result.append({"role": "assistant", "content": message.content})
    return result


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
    budget = context_tokens - tokens.count_messages(head, model)
    used = 0
    for message in reversed(messages):
        cost = tokens.count_messages([message], model) - 3
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    if not kept and messages:
        raise PromptTooLong(contextTokens=context_tokens)
    kept.reverse()
    final = head + kept
    return Prompt(final, tokens.count_messages(final, model), len(messages) - len(kept))
