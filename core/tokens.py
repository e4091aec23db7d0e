"""Token counting with tiktoken, offline, for every package (the one tiktoken module)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable, Mapping, Sequence

import tiktoken

from core.environment import prepare_offline

prepare_offline()

_SHIPPED = ("o200k_base", "cl100k_base", "p50k_base")
# Per-message framing tokens in OpenAI chat formats.
_MESSAGE_OVERHEAD = 4
_REPLY_PRIMER = 3
# Texts longer than this are counted in a thread: about 7 ms of work on the event loop otherwise.
# tiktoken's encoder releases the GIL, so a thread (not a process) keeps the loop free.
OFF_LOOP_CHARS = 50_000


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


async def count_messages_off_loop(messages: Sequence[Mapping[str, object]], model: str = "") -> int:
    """`count_messages`, in a worker thread when the messages are long."""
    if sum(len(str(value)) for message in messages for value in message.values()) <= OFF_LOOP_CHARS:
        return count_messages(messages, model)
    return await asyncio.to_thread(count_messages, messages, model)


async def count_text_off_loop(text: str, model: str = "") -> int:
    """`count_text`, in a worker thread when the text is long."""
    if len(text) <= OFF_LOOP_CHARS:
        return count_text(text, model)
    return await asyncio.to_thread(count_text, text, model)
