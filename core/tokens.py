"""Token counting with tiktoken, offline, for every package (the one tiktoken module)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

import regex  # type: ignore[import-untyped]  # tiktoken's own dependency, for its patterns
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
# What one image in a prompt is reckoned to cost before the provider says: a fixed estimate near
# the most the big providers charge for one image at their default detail (OpenAI: 765 tokens
# for 1024x1024, Anthropic about 1,600 for 1092x1092). Admission reserves it; the provider's
# usage settles the call.
IMAGE_TOKENS = 1_600
_IMAGE_PARTS = frozenset({"image_url", "image", "input_image"})
# Texts at least this long have their count kept, by digest: agents (Claude Code, the Responses
# API's instructions) send the same system prompt and tools on every call, thousands of tokens
# that would otherwise be encoded again each time (~4 ms for 50,000 characters).
CACHED_FROM_CHARS = 1_000
CACHED_COUNTS = 4_096


class Counts:
    """Token counts of long texts, by a digest of encoding and text; the oldest used dropped
    first. Holds digests, not texts."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._counts: OrderedDict[bytes, int] = OrderedDict()
        self._lock = threading.Lock()  # long texts are counted in worker threads

    def __len__(self) -> int:
        return len(self._counts)

    def count(self, encoding: tiktoken.Encoding, text: str) -> int:
        if len(text) < CACHED_FROM_CHARS:
            return len(encoding.encode(text, disallowed_special=()))
        key = hashlib.blake2b(f"{encoding.name}\0{text}".encode(), digest_size=16).digest()
        with self._lock:
            found = self._counts.get(key)
            if found is not None:
                self._counts.move_to_end(key)
                return found
        counted = len(encoding.encode(text, disallowed_special=()))
        with self._lock:
            self._counts[key] = counted
            while len(self._counts) > self.size:
                self._counts.popitem(last=False)
        return counted


COUNTED = Counts(CACHED_COUNTS)


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
    return _compacted(tiktoken.get_encoding(encoding_name))


def compact_tables() -> None:
    """Compact every encoding loaded in this process (`_compacted`), LiteLLM's own too."""
    for encoding in list(tiktoken.registry.ENCODINGS.values()):
        _compacted(encoding)


def _compacted(encoding: tiktoken.Encoding) -> tiktoken.Encoding:
    """Drop the Python copy of an encoding's merge table.

    tiktoken keeps each table twice: in its Rust core, which does all encoding and decoding, and
    as the dict it was built from, which only pickling the encoding reads (27 MB resident for
    o200k_base, 14 MB for cl100k_base; bench/README.md, First answer). Nothing pickles one.
    Counts are unchanged (tests/core/test_tokens.py).
    """
    encoding._mergeable_ranks = {}
    return encoding


def count_text(text: str, model: str = "") -> int:
    """Tokens in a piece of text."""
    return COUNTED.count(encoding_for(model), text)


def count_messages(messages: Iterable[Mapping[str, object]], model: str = "") -> int:
    """Tokens a list of chat messages takes in the prompt, framing included."""
    encoding = encoding_for(model)
    total = _REPLY_PRIMER
    for message in messages:
        total += _MESSAGE_OVERHEAD
        for value in message.values():
            if isinstance(value, str):
                total += COUNTED.count(encoding, value)
            elif isinstance(value, list):
                total += _count_parts(value, encoding)
            elif value is not None:
                total += COUNTED.count(encoding, str(value))
    return total


def _count_parts(parts: list[object], encoding: tiktoken.Encoding) -> int:
    """A content list's tokens: text parts as text, each image part `IMAGE_TOKENS` (never the
    characters of its base64 data)."""
    total = 0
    for part in parts:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _IMAGE_PARTS:
            total += IMAGE_TOKENS
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            total += COUNTED.count(encoding, part["text"])
        else:
            total += COUNTED.count(encoding, str(part))
    return total


def _chars(value: object) -> int:
    if isinstance(value, list):
        return sum(
            len(str(p.get("text", ""))) if isinstance(p, dict) else len(str(p)) for p in value
        )
    return len(str(value))


class RunningCount:
    """The tokens of a text that only grows (a stream's output so far), as `count_text` counts
    it whole, encoding each time only what may have changed.

    An encoding splits a text into pieces with its pattern and never makes a token across two.
    The patterns look behind nothing, and ahead only at the next character or, through a run of
    spaces, at the text's end; so a piece that ends before the text does, with a character that
    is no space, keeps its extent whatever is appended. The pieces up to such an end before the
    last piece or two are counted once and remembered (not through the cache of long texts,
    which texts that grow would only churn): each count encodes what was added since the last
    one and the pieces left open, linear in the text rather than quadratic.
    """

    __slots__ = ("_encoding", "_pattern", "_settled_chars", "_settled_tokens")

    def __init__(self, model: str = "") -> None:
        self._encoding = encoding_for(model)
        self._pattern = _pattern_of(self._encoding)
        self._settled_chars = 0  # text[:_settled_chars] is whole pieces, whatever follows
        self._settled_tokens = 0

    def count(self, text: str) -> int:
        """Tokens in `text`, which begins with every text counted here before."""
        encoding, pattern = self._encoding, self._pattern
        tail = text[self._settled_chars :]
        starts = [found.start() for found in pattern.finditer(tail)]
        for index in range(len(starts) - 2, max(0, len(starts) - 5), -1):
            cut = starts[index]
            # Encoded alone, the text before `cut` ends there, and its last pieces may split
            # otherwise (they saw a next character, or a run of spaces to the end): settle only
            # after a character that is no space and a piece that ends there all the same.
            if _SPACE.match(tail, cut - 1):
                continue
            alone = pattern.match(tail, starts[index - 1], cut)
            if alone is not None and alone.end() == cut:
                self._settled_tokens += len(encoding.encode(tail[:cut], disallowed_special=()))
                self._settled_chars += cut
                return self._settled_tokens + len(
                    encoding.encode(tail[cut:], disallowed_special=())
                )
        return self._settled_tokens + len(encoding.encode(tail, disallowed_special=()))


_SPACE = regex.compile(r"\s")


@functools.cache
def _pattern_of(encoding: tiktoken.Encoding) -> regex.Pattern[str]:
    """The pattern that splits texts into pieces for an encoding (tiktoken's, compiled here)."""
    return regex.compile(encoding._pat_str)


def encode(text: str, model: str = "") -> list[int]:
    """The token ids of a text."""
    return encoding_for(model).encode(text, disallowed_special=())


def decode(tokens: list[int], model: str = "") -> str:
    """The text of token ids."""
    return encoding_for(model).decode(tokens)


async def count_messages_off_loop(messages: Sequence[Mapping[str, object]], model: str = "") -> int:
    """`count_messages`, in a worker thread when the messages are long."""
    if sum(_chars(value) for message in messages for value in message.values()) <= OFF_LOOP_CHARS:
        return count_messages(messages, model)
    return await asyncio.to_thread(count_messages, messages, model)


async def count_text_off_loop(text: str, model: str = "") -> int:
    """`count_text`, in a worker thread when the text is long."""
    if len(text) <= OFF_LOOP_CHARS:
        return count_text(text, model)
    return await asyncio.to_thread(count_text, text, model)
