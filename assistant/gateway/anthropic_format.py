"""Anthropic's Messages API over OpenAI chat completions: requests, answers and streams translated.

`/v1/messages` runs every catalog model through the same metered passthrough as
`/v1/chat/completions`, whatever the provider's own format; this module only changes the shape of
what goes in and what comes out. What has no equivalent in chat completions (thinking blocks,
server tools, citations, PDF documents) is refused with a clear error or, for content the model
itself produced before (thinking), left out.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from assistant.gateway.chunks import Chunk, Usage, usage_of
from core import tokens
from core.errors import InvalidInput

# OpenAI's finish reasons to Anthropic's stop reasons.
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# Request fields passed on under OpenAI's name.
RENAMED = {"temperature": "temperature", "top_p": "top_p", "stop_sequences": "stop"}


def message_id() -> str:
    """A new id in Anthropic's style."""
    return "msg_" + secrets.token_hex(12)


def to_openai(body: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI chat-completions body for an Anthropic Messages request.

    Raises:
        InvalidInput: a content block, tool or option chat completions cannot carry.
    """
    messages: list[dict[str, Any]] = []
    system = _system(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for number, message in enumerate(body["messages"]):
        messages.extend(_message(message, f"messages.{number}"))
    out: dict[str, Any] = {
        "model": body["model"],
        "messages": messages,
        "max_tokens": body["max_tokens"],
        "stream": bool(body.get("stream")),
    }
    for name, openai_name in RENAMED.items():
        if body.get(name) is not None:
            out[openai_name] = body[name]
    if body.get("tools"):
        out["tools"] = [_tool(tool, f"tools.{i}") for i, tool in enumerate(body["tools"])]
    if body.get("tool_choice"):
        out.update(_tool_choice(body["tool_choice"]))
    user = (body.get("metadata") or {}).get("user_id")
    if isinstance(user, str) and user:
        out["user"] = user
    return out


async def count_input_tokens(chat: Mapping[str, Any], model: str) -> int:
    """The prompt tokens of a translated request, counted as `/v1` admission counts them."""
    count = await tokens.count_messages_off_loop(chat["messages"], model)
    if chat.get("tools"):
        count += await tokens.count_text_off_loop(json.dumps(chat["tools"]), model)
    return count


def _system(system: Any) -> str:
    if system is None or isinstance(system, str):
        return system or ""
    return "\n\n".join(_text_block(block, f"system.{i}") for i, block in enumerate(system))


def _text_block(block: Any, where: str) -> str:
    if not isinstance(block, Mapping) or block.get("type") != "text":
        raise InvalidInput(f"{where}: only text blocks are supported here.", field=where)
    return str(block.get("text") or "")


def _message(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """One Anthropic message as OpenAI messages: tool results become `tool` messages first."""
    role = message["role"]
    content = message["content"]
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if role == "assistant":
        return [_assistant(content, where)]
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        at = f"{where}.content.{i}"
        if block.get("type") == "tool_result":
            tool_message, images = _tool_result(block, at)
            results.append(tool_message)
            parts.extend(images)
        else:
            parts.append(_part(block, at))
    if parts:
        texts_only = all(part["type"] == "text" for part in parts)
        text = "\n".join(part["text"] for part in parts) if texts_only else None
        results.append({"role": "user", "content": text if texts_only else parts})
    return results


def _assistant(content: Sequence[Mapping[str, Any]], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            arguments = json.dumps(block.get("input") or {}, separators=(",", ":"))
            function = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
        elif kind not in {"thinking", "redacted_thinking"}:  # the model's own; not sent back
            raise _unsupported(kind, f"{where}.content.{i}")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_result(
    block: Mapping[str, Any], where: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A tool result as a `tool` message; its images follow in a user message."""
    content = block.get("content")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    for i, part in enumerate(content if isinstance(content, list) else []):
        converted = _part(part, f"{where}.content.{i}")
        if converted["type"] == "text":
            texts.append(converted["text"])
        else:
            images.append(converted)
    text = "\n".join(texts)
    if block.get("is_error"):
        text = f"Error: {text}"
    tool_message = {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text}
    return tool_message, images


def _part(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = block.get("type")
    source = block.get("source") or {}
    if kind == "text":
        return {"type": "text", "text": str(block.get("text") or "")}
    if kind == "image" and source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
        return {"type": "image_url", "image_url": {"url": url}}
    if kind == "image" and source.get("type") == "url":
        return {"type": "image_url", "image_url": {"url": source.get("url")}}
    if kind == "document" and source.get("type") == "text":
        return {"type": "text", "text": str(source.get("data") or "")}
    raise _unsupported(kind if kind != "document" else "document (not plain text)", where)


def _unsupported(kind: Any, where: str) -> InvalidInput:
    return InvalidInput(
        f"{where}: content of type {kind!r} is not supported by this gateway's /v1/messages.",
        field=where,
    )


def _tool(tool: Mapping[str, Any], where: str) -> dict[str, Any]:
    if tool.get("type") not in {None, "custom"}:
        raise InvalidInput(
            f"{where}: server tools ({tool.get('type')}) are not supported; "
            "declare client tools with a name and an input_schema.",
            field=where,
        )
    function: dict[str, Any] = {
        "name": tool.get("name"),
        "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
    }
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Mapping[str, Any]) -> dict[str, Any]:
    kind = choice.get("type")
    chosen: dict[str, Any]
    if kind == "tool":
        chosen = {"tool_choice": {"type": "function", "function": {"name": choice.get("name")}}}
    elif kind in {"auto", "any", "none"}:
        chosen = {"tool_choice": {"auto": "auto", "any": "required", "none": "none"}[kind]}
    else:
        raise InvalidInput(f"tool_choice: unknown type {kind!r}.", field="tool_choice")
    if choice.get("disable_parallel_tool_use") and kind != "none":
        chosen["parallel_tool_calls"] = False
    return chosen


def to_anthropic(completion: Mapping[str, Any], *, model: str) -> dict[str, Any]:
    """A whole OpenAI chat completion as an Anthropic Message."""
    choices = completion.get("choices") or [{}]
    message = choices[0].get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or _tool_use_id(),
                "name": function.get("name") or "",
                "input": _arguments(function.get("arguments")),
            }
        )
    usage = usage_of(completion.get("usage") or {}) or Usage(prompt_tokens=0, completion_tokens=0)
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS.get(choices[0].get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": anthropic_usage(usage),
    }


def anthropic_usage(usage: Usage) -> dict[str, int]:
    """Usage as Anthropic states it: `input_tokens` leaves out what the prompt cache read or wrote,
    which it counts apart."""
    read, written = usage.cached.read, usage.cached.written
    return {
        "input_tokens": max(0, usage.prompt_tokens - read - written),
        "output_tokens": usage.completion_tokens,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": written,
    }


def _arguments(arguments: Any) -> Any:
    """A tool call's arguments as the object Anthropic's `input` is."""
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return {"arguments": arguments}  # not JSON: kept, not lost
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _tool_use_id() -> str:
    return "toolu_" + secrets.token_hex(12)


def event(name: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event of Anthropic's stream."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def error_event(kind: str, message: str) -> bytes:
    """The event that ends a stream which failed after it began."""
    return event("error", {"type": "error", "error": {"type": kind, "message": message}})


class MessageStream:
    """One streamed OpenAI answer as Anthropic's events: `start`, `feed` each chunk, `finish`."""

    def __init__(self, *, model: str, input_tokens: int) -> None:
        self.model = model
        self.input_tokens = input_tokens  # admission's count, until the provider reports its own
        self.block = -1  # the index of the last content block opened
        self.open_kind = ""  # "text" or "tool_use" while a block is open
        self.tool_blocks: dict[int, int] = {}  # an OpenAI tool-call index to its block
        self.stop_reason = "end_turn"
        self.usage: Usage | None = None
        self.text: list[str] = []  # counted when the provider reports no usage

    def start(self) -> bytes:
        """`message_start` and a first ping."""
        message: dict[str, Any] = {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 0},
        }
        return event("message_start", {"type": "message_start", "message": message}) + event(
            "ping", {"type": "ping"}
        )

    def feed(self, chunk: Chunk) -> bytes:
        """The events of one chunk (none for a chunk with nothing to say)."""
        out: list[bytes] = []
        if chunk.text:
            self.text.append(chunk.text)
            if self.open_kind != "text":
                out.append(self._open({"type": "text", "text": ""}, "text"))
            delta = {"type": "text_delta", "text": chunk.text}
            out.append(self._delta(self.block, delta))
        for call in chunk.tool_calls:
            out.extend(self._tool_delta(call))
        if chunk.finish_reason:
            self.stop_reason = STOP_REASONS.get(chunk.finish_reason, "end_turn")
        if chunk.usage is not None:
            self.usage = chunk.usage
        return b"".join(out)

    def _tool_delta(self, call: Mapping[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        position = int(call.get("index") or 0)
        function = call.get("function") or {}
        if position not in self.tool_blocks:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id") or _tool_use_id(),
                "name": function.get("name") or "",
                "input": {},
            }
            out.append(self._open(block, "tool_use"))
            self.tool_blocks[position] = self.block
        arguments = function.get("arguments")
        if arguments:
            delta = {"type": "input_json_delta", "partial_json": str(arguments)}
            out.append(self._delta(self.tool_blocks[position], delta))
        return out

    def finish(self) -> bytes:
        """Close the open block; `message_delta` (stop reason, final usage) and `message_stop`."""
        usage = self.usage or Usage(
            prompt_tokens=self.input_tokens,
            completion_tokens=tokens.count_text("".join(self.text), self.model),
        )
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
            "usage": anthropic_usage(usage),
        }
        return (
            self._close()
            + event("message_delta", delta)
            + event("message_stop", {"type": "message_stop"})
        )

    def _open(self, block: dict[str, Any], kind: str) -> bytes:
        closed = self._close()
        self.block += 1
        self.open_kind = kind
        start = {"type": "content_block_start", "index": self.block, "content_block": block}
        return closed + event("content_block_start", start)

    def _close(self) -> bytes:
        if not self.open_kind:
            return b""
        self.open_kind = ""
        return event("content_block_stop", {"type": "content_block_stop", "index": self.block})

    @staticmethod
    def _delta(index: int, delta: Mapping[str, Any]) -> bytes:
        return event(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        )
