"""Token counting with tiktoken, offline, for every package (the one tiktoken module)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

import tiktoken

from core.environment import prepare_offline

prepare_offline()

_SHIPPED = ("o200k_base", "cl100k_base", "p50k_base")
# Per-message framing tokens in OpenAI chat formats.
_MESSAGE_OVERHEAD = 4
_REPLY_PRIMER = 3


@functools.cache
def encoding_for(model: str) -> tiktoken.Encoding:
    """The encoding a model uses; cl100k_base when tiktoken does not know the model."""
    name = model.rsplit("/", 1)[-1]
    try:
        encoding_name = tiktoken.encoding_name_for_model(name)
    except KeyError:
        encoding_name = "cl100k_base"
    if encoding_name not in _SHIPPED:
        encoding_name = "cl100k_base"
    return tiktoken.get_encoding(encoding_name)


def count_text(text: str, model: str = "") -> int:
    """Tokens in a piece of text."""
    return len(encoding_for(model).encode(text, disallowed_special=()))


def count_messages(messages: Iterable[Mapping[str, object]], model: str = "") -> int:
    """Tokens a list of chat messages takes in the prompt, framing included."""
    encoding = encoding_for(model)
    total = _REPLY_PRIMER
    for message in messages:
        total += _MESSAGE_OVERHEAD
        for value in message.values():
            if isinstance(value, str):
                total += len(encoding.encode(value, disallowed_special=()))
            elif value is not None:
                total += len(encoding.encode(str(value), disallowed_special=()))
    return total


def encode(text: str, model: str = "") -> list[int]:
    """The token ids of a text."""
    return encoding_for(model).encode(text, disallowed_special=())


def decode(tokens: list[int], model: str = "") -> str:
    """The text of token ids."""
    return encoding_for(model).decode(tokens)
