"""A chat stream as the Responses API's events: items opened, filled and closed in order."""

from __future__ import annotations

import json
from typing import Any

from assistant.gateway.chunks import Chunk
from assistant.gateway.responses_format import output_of, response_object
from assistant.gateway.responses_stream import ResponseStream


def events_of(raw: bytes) -> list[dict[str, Any]]:
    return [
        json.loads(block.split("\ndata: ", 1)[1])
        for block in raw.decode().split("\n\n")
        if block.strip()
    ]


def call(index: int, arguments: str, **first: Any) -> dict[str, Any]:
    function = {"arguments": arguments, **({"name": first["name"]} if first else {})}
    return {"index": index, **({"id": first["id"]} if first else {}), "function": function}


def test_text_then_two_fragmented_calls_make_three_items_closed_in_order() -> None:
    stream = ResponseStream(response_object({"model": "m"}, response_id="resp_1", model="m"))
    raw = stream.start()
    raw += stream.feed(Chunk(text="Let me "))
    raw += stream.feed(Chunk(text="check."))
    raw += stream.feed(Chunk(tool_calls=[call(0, '{"ci', id="c0", name="weather")]))
    raw += stream.feed(Chunk(tool_calls=[call(0, 'ty":"Oslo"}')]))
    raw += stream.feed(Chunk(tool_calls=[call(1, "{}", id="c1", name="time")]))
    raw += stream.feed(Chunk(finish_reason="tool_calls"))
    raw += stream.close()
    events = events_of(raw)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [(e["type"], e.get("output_index")) for e in events]
    assert kinds == [
        ("response.created", None),
        ("response.in_progress", None),
        ("response.output_item.added", 0),
        ("response.content_part.added", 0),
        ("response.output_text.delta", 0),
        ("response.output_text.delta", 0),
        ("response.output_text.done", 0),  # text closes when the first call starts
        ("response.content_part.done", 0),
        ("response.output_item.done", 0),
        ("response.output_item.added", 1),
        ("response.function_call_arguments.delta", 1),
        ("response.function_call_arguments.delta", 1),
        ("response.function_call_arguments.done", 1),  # one item at a time
        ("response.output_item.done", 1),
        ("response.output_item.added", 2),
        ("response.function_call_arguments.delta", 2),
        ("response.function_call_arguments.done", 2),
        ("response.output_item.done", 2),
    ]
    message, weather, time = stream.output()
    assert message["content"][0]["text"] == "Let me check."
    assert (weather["call_id"], weather["name"], weather["arguments"]) == (
        "c0",
        "weather",
        '{"city":"Oslo"}',
    )
    assert (time["call_id"], time["status"]) == ("c1", "completed")
    assert stream.finish_reason == "tool_calls"


def test_an_answer_cut_at_the_token_limit_finishes_as_incomplete() -> None:
    stream = ResponseStream(response_object({"model": "m"}, response_id="resp_2", model="m"))
    stream.feed(Chunk(text="Once upon", finish_reason="length"))
    stream.close()
    response = response_object(
        {"model": "m"}, response_id="resp_2", model="m", status="incomplete", output=stream.output()
    )
    [event] = events_of(stream.finish(response))
    assert event["type"] == "response.incomplete"
    assert event["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_reasoning_streams_as_its_own_item_before_the_answer() -> None:
    stream = ResponseStream(response_object({"model": "m"}, response_id="resp_3", model="m"))

    def thinking(text: str) -> Chunk:
        return Chunk(raw={"choices": [{"delta": {"reasoning_content": text}}]})

    raw = stream.feed(thinking("Two plus "))
    raw += stream.feed(thinking("two."))
    raw += stream.feed(Chunk(text="4"))
    raw += stream.close()
    kinds = [(e["type"], e.get("output_index")) for e in events_of(raw)]
    assert kinds == [
        ("response.output_item.added", 0),
        ("response.reasoning_text.delta", 0),
        ("response.reasoning_text.delta", 0),
        ("response.reasoning_text.done", 0),
        ("response.output_item.done", 0),
        ("response.output_item.added", 1),
        ("response.content_part.added", 1),
        ("response.output_text.delta", 1),
        ("response.output_text.done", 1),
        ("response.content_part.done", 1),
        ("response.output_item.done", 1),
    ]
    reasoning, message = stream.output()
    assert reasoning["type"] == "reasoning"
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "Two plus two."}]
    assert message["content"][0]["text"] == "4"


def test_a_whole_answers_reasoning_comes_first_in_the_output() -> None:
    completion = {"choices": [{"message": {"content": "4", "reasoning_content": "Two plus two."}}]}
    reasoning, message = output_of(completion)
    assert reasoning["content"][0]["text"] == "Two plus two." and message["type"] == "message"
