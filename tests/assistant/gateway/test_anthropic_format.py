"""Anthropic Messages requests as chat completions, and chat streams as Anthropic's events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.gateway.anthropic_format import MessageStream, to_anthropic, to_openai
from assistant.gateway.chunks import Cached, Chunk, Usage
from core.errors import InvalidInput

PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def _request(*messages: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"model": "fake", "max_tokens": 10, "messages": list(messages), **options}


def test_tool_results_come_first_as_tool_messages_and_their_images_follow_as_a_user_turn() -> None:
    chat = to_openai(
        _request(
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": "t1", "name": "shot", "input": {"page": 2}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "partial"},
                            {"type": "image", "source": PNG},
                        ],
                    },
                    {"type": "text", "text": "What do you see?"},
                ],
            },
            system=[{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
        )
    )
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert chat["messages"] == [
        {"role": "system", "content": "A\n\nB"},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "shot", "arguments": '{"page":2}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "Error: partial"},
        {"role": "user", "content": [image, {"type": "text", "text": "What do you see?"}]},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        (
            {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
            {
                "tool_choice": {"type": "function", "function": {"name": "f"}},
                "parallel_tool_calls": False,
            },
        ),
    ],
)
def test_tool_choice_maps_to_openais(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    chat = to_openai(_request({"role": "user", "content": "hi"}, tool_choice=choice))
    assert {k: chat[k] for k in expected} == expected


def test_options_are_renamed_and_unsupported_content_is_refused() -> None:
    chat = to_openai(
        _request(
            {"role": "user", "content": "hi"},
            stop_sequences=["END"],
            temperature=0.5,
            top_k=3,
            metadata={"user_id": "u1"},
        )
    )
    assert (chat["stop"], chat["temperature"], chat["user"]) == (["END"], 0.5, "u1")
    assert "top_k" not in chat
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf"}}
    with pytest.raises(InvalidInput, match=r"messages\.0\.content\.0"):
        to_openai(_request({"role": "user", "content": [pdf]}))


def test_a_whole_answer_with_a_tool_call_becomes_tool_use_blocks() -> None:
    completion = {
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "content": "Let me check.",
                    "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"a":1}'}}],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 3,
            "prompt_tokens_details": {"cached_tokens": 8},
        },
    }
    message = to_anthropic(completion, model="fake")
    assert message["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {
        "input_tokens": 4,  # Anthropic's input_tokens leave out the prompt cache's
        "output_tokens": 3,
        "cache_read_input_tokens": 8,
        "cache_creation_input_tokens": 0,
    }


def _events(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in data.decode().strip().split("\n\n"):
        name, payload = frame.split("\n")
        events.append((name.removeprefix("event: "), json.loads(payload.removeprefix("data: "))))
    return events


def test_a_stream_opens_and_closes_a_block_per_text_run_and_tool_call() -> None:
    stream = MessageStream(model="fake", input_tokens=7)
    call = {"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a"'}}
    more = {"index": 0, "function": {"arguments": ":1}"}}
    frames = stream.start() + b"".join(
        stream.feed(chunk)
        for chunk in (
            Chunk(text="Hi "),
            Chunk(text="there"),
            Chunk(tool_calls=[call]),
            Chunk(tool_calls=[more]),
            Chunk(finish_reason="tool_calls"),
            Chunk(
                usage=Usage(prompt_tokens=9, completion_tokens=4, cached=Cached(read=2, written=3))
            ),
        )
    )
    events = _events(frames + stream.finish())
    assert [name for name, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0][1]["message"]["usage"] == {"input_tokens": 7, "output_tokens": 0}
    assert events[6][1]["content_block"] == {
        "type": "tool_use",
        "id": "c1",
        "name": "f",
        "input": {},
    }
    assert [e[1]["delta"]["partial_json"] for e in events[7:9]] == ['{"a"', ":1}"]
    assert events[10][1]["delta"]["stop_reason"] == "tool_use"
    assert events[10][1]["usage"] == {
        "input_tokens": 4,
        "output_tokens": 4,
        "cache_read_input_tokens": 2,
        "cache_creation_input_tokens": 3,
    }
