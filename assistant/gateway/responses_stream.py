"""One streamed chat answer as the Responses API's typed events.

`response.created` and `response.in_progress` first; then, per output item, `output_item.added`,
its deltas (`output_text.delta`, or `function_call_arguments.delta`) and its `.done` events; then
`response.completed` (or `response.incomplete` when the answer hit its token limit, or
`response.failed` when the provider failed after the stream began).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assistant.gateway.chunks import Chunk, reasoning_of
from assistant.gateway.responses_format import (
    function_call_item,
    message_item,
    new_id,
    reasoning_item,
)


@dataclass(kw_only=True)
class _Item:
    """An output item being streamed."""

    index: int
    item: dict[str, Any]
    parts: list[str] = field(default_factory=list)  # its text, or its arguments
    done: bool = False


class ResponseStream:
    """Feed it a chat stream's chunks; it returns the Responses events to send for each."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response  # the Response object (status in_progress, no output yet)
        self.sequence = 0
        self.items: list[_Item] = []
        self.text_item: _Item | None = None  # the message item text is going into
        self.calls: dict[int, _Item] = {}  # a chat tool-call index to its item
        self.thinking: _Item | None = None  # the reasoning item being streamed
        self.finish_reason = ""

    def event(self, kind: str, **data: Any) -> bytes:
        """One server-sent event, numbered in sequence."""
        payload = {"type": kind, "sequence_number": self.sequence, **data}
        self.sequence += 1
        return f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()

    def start(self) -> bytes:
        """`response.created` and `response.in_progress`."""
        return self.event("response.created", response=self.response) + self.event(
            "response.in_progress", response=self.response
        )

    def feed(self, chunk: Chunk) -> bytes:
        """The events of one chunk (none for a chunk with nothing to say)."""
        out: list[bytes] = []
        thought = reasoning_of(chunk)
        if thought:
            out.append(self._reasoning(thought))
        if chunk.text:
            out.append(self._text(chunk.text))
        for call in chunk.tool_calls:
            out.append(self._call(call))
        if chunk.finish_reason:
            self.finish_reason = chunk.finish_reason
        return b"".join(out)

    def _text(self, text: str) -> bytes:
        out = b""
        item = self.text_item
        if item is None:
            out = self._close_reasoning() + self._close_calls()
            item = self._add(message_item("", status="in_progress"))
            self.text_item = item
            out += self._added(item) + self.event(
                "response.content_part.added",
                item_id=item.item["id"],
                output_index=item.index,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": []},
            )
        item.parts.append(text)
        return out + self.event(
            "response.output_text.delta",
            item_id=item.item["id"],
            output_index=item.index,
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def _call(self, call: Mapping[str, Any]) -> bytes:
        out = b""
        position = int(call.get("index") or 0)
        function = call.get("function") or {}
        item = self.calls.get(position)
        if item is None:
            # One item at a time, as OpenAI streams them: text or the call before is done.
            out = self._close_reasoning() + self._close_text() + self._close_calls()
            fresh = function_call_item(
                str(call.get("id") or new_id("call")),
                str(function.get("name") or ""),
                "",
                status="in_progress",
            )
            item = self._add(fresh)
            self.calls[position] = item
            out += self._added(item)
        elif function.get("name") and not item.item["name"]:
            item.item["name"] = str(function["name"])
        arguments = str(function.get("arguments") or "")
        if not arguments:
            return out
        item.parts.append(arguments)
        if item.done:  # a late fragment of a call already done: kept in the output only
            old = item.item
            item.item = function_call_item(
                old["call_id"], old["name"], "".join(item.parts), item_id=old["id"]
            )
            return out
        return out + self.event(
            "response.function_call_arguments.delta",
            item_id=item.item["id"],
            output_index=item.index,
            delta=arguments,
        )

    def _reasoning(self, text: str) -> bytes:
        out = b""
        item = self.thinking
        if item is None:
            out = self._close_text() + self._close_calls()
            item = self._add(reasoning_item("", status="in_progress"))
            self.thinking = item
            out += self._added(item)
        item.parts.append(text)
        return out + self.event(
            "response.reasoning_text.delta",
            item_id=item.item["id"],
            output_index=item.index,
            content_index=0,
            delta=text,
        )

    def _close_reasoning(self) -> bytes:
        item, self.thinking = self.thinking, None
        if item is None:
            return b""
        text = "".join(item.parts)
        item.item = reasoning_item(text, item_id=item.item["id"])
        item.done = True
        return self.event(
            "response.reasoning_text.done",
            item_id=item.item["id"],
            output_index=item.index,
            content_index=0,
            text=text,
        ) + self.event("response.output_item.done", output_index=item.index, item=item.item)

    def _add(self, item: dict[str, Any]) -> _Item:
        added = _Item(index=len(self.items), item=item)
        self.items.append(added)
        return added

    def _added(self, item: _Item) -> bytes:
        return self.event("response.output_item.added", output_index=item.index, item=item.item)

    def _close_text(self) -> bytes:
        item, self.text_item = self.text_item, None
        if item is None:
            return b""
        text = "".join(item.parts)
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        item.item = message_item(text, item_id=item.item["id"])
        item.done = True
        where = {"item_id": item.item["id"], "output_index": item.index, "content_index": 0}
        return (
            self.event("response.output_text.done", **where, text=text, logprobs=[])
            + self.event("response.content_part.done", **where, part=part)
            + self.event("response.output_item.done", output_index=item.index, item=item.item)
        )

    def _close_call(self, item: _Item) -> bytes:
        arguments = "".join(item.parts)
        old = item.item
        item.item = function_call_item(old["call_id"], old["name"], arguments, item_id=old["id"])
        item.done = True
        return self.event(
            "response.function_call_arguments.done",
            item_id=old["id"],
            output_index=item.index,
            name=old["name"],
            arguments=arguments,
        ) + self.event("response.output_item.done", output_index=item.index, item=item.item)

    def output(self) -> list[dict[str, Any]]:
        """The output items so far (complete once `close` ran)."""
        return [item.item for item in self.items]

    def close(self) -> bytes:
        """The `.done` events of every item still open."""
        return self._close_reasoning() + self._close_text() + self._close_calls()

    def _close_calls(self) -> bytes:
        return b"".join(self._close_call(item) for item in self.calls.values() if not item.done)

    def finish(self, response: dict[str, Any]) -> bytes:
        """The last event: `response.completed`, or `response.incomplete` at the token limit."""
        kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        return self.event(kind, response=response)

    def fail(self, code: str, message: str) -> bytes:
        """`response.failed`: the provider failed after the stream began."""
        failed = {
            **self.response,
            "status": "failed",
            "output": self.output(),
            "error": {"code": code, "message": message},
        }
        return self.event("response.failed", response=failed)
