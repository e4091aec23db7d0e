"""What providers send, read alike by every path: usage with prompt-cache tokens from each shape
of `usage`, and reasoning apart from the text."""

from __future__ import annotations

import json

import pytest

from assistant.gateway.chunks import Cached, Usage, usage_of
from assistant.gateway.relay import chunk_json, parse_chunk


def test_openai_cached_tokens_are_cache_reads() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 40},
    }
    assert usage_of(usage) == Usage(100, 7, Cached(read=40, written=0))


def test_anthropic_cache_reads_and_writes_as_litellm_passes_them_on() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 40, "cache_creation_tokens": 20},
        "cache_read_input_tokens": 40,
        "cache_creation_input_tokens": 20,
    }
    assert usage_of(usage) == Usage(100, 7, Cached(read=40, written=20))


def test_usage_without_a_completion_count_is_none() -> None:
    assert usage_of({"prompt_tokens": 5}) is None
    assert usage_of({"prompt_tokens": 5, "completion_tokens": 0}) == Usage(5, 0)


def test_the_relay_reads_cached_tokens_from_an_openai_usage_chunk() -> None:
    raw = {
        "choices": [],
        "usage": {
            "prompt_tokens": 50,
            "completion_tokens": 3,
            "prompt_tokens_details": {"cached_tokens": 32},
        },
    }
    assert parse_chunk(raw).usage == Usage(50, 3, Cached(read=32))


def test_the_relay_reads_reasoning_by_either_name_apart_from_the_text() -> None:
    for key in ("reasoning_content", "reasoning"):
        chunk = parse_chunk({"choices": [{"delta": {key: "Hmm.", "content": ""}}]})
        assert (chunk.reasoning, chunk.text) == ("Hmm.", "")
    assert parse_chunk({"choices": [{"delta": {"content": "Hi"}}]}).reasoning == ""


def test_the_relay_parses_a_chunk_as_json_loads_does_lone_surrogates_included() -> None:
    """pydantic_core parses the relay's chunks; what it refuses (a lone surrogate escape, as a
    provider may split an emoji's pair across chunks) still parses as json.loads parses it."""
    plain = b'{"choices":[{"delta":{"content":"Hi \\u00e9"}}],"n":12345678901234567890}'
    split = b'{"choices":[{"delta":{"content":"\\ud83d"}}]}'
    for data in (plain, split):
        assert chunk_json(data) == json.loads(data)
    with pytest.raises(ValueError):
        chunk_json(b'{"choices": [')
