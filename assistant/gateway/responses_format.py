"""OpenAI's Responses API over chat completions: input items to messages, answers to output items.

`/v1/responses` runs every catalog model through the same metered passthrough as
`/v1/chat/completions`, whatever the provider's own format; this module only changes the shape of
what goes in and what comes out. Function tools map one to one (a `function_call` output item is
a chat tool call, a `function_call_output` input item a `tool` message). What chat completions
cannot carry (built-in tools such as web_search or file_search, file inputs, item references) is
refused with a clear error.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import InvalidInput

ROLES = {"user", "assistant", "system", "developer"}
# Response options passed to chat completions under the same name.
SAME_NAME = ("temperature", "top_p", "parallel_tool_calls", "user")


def new_id(prefix: str) -> str:
    """A new id in OpenAI's style (`resp_…`, `msg_…`, `fc_…`)."""
    return f"{prefix}_{secrets.token_hex(24)}"


def input_items(value: str | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A request's `input` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return [dict(item) for item in value]


def identified(item: Mapping[str, Any]) -> dict[str, Any]:
    """An input item with an id of its own (kept as given when it has one), as OpenAI lists
    a response's input items."""
    if isinstance(item.get("id"), str) and item["id"]:
        return dict(item)
    prefix = {"function_call": "fc", "function_call_output": "fco"}.get(str(item.get("type")))
    return {"id": new_id(prefix or "msg"), **item}


def listed(item: Mapping[str, Any]) -> dict[str, Any]:
    """A stored item as `GET /v1/responses/{id}/input_items` lists it: a message's text as
    content parts, every item with a type and a status."""
    out = {"status": "completed", **item}
    if "role" in item and "type" not in item:
        out["type"] = "message"
    if out.get("type") == "message" and isinstance(item.get("content"), str):
        kind = "output_text" if item.get("role") == "assistant" else "input_text"
        out["content"] = [{"type": kind, "text": item["content"]}]
    return out


def to_chat(
    body: Mapping[str, Any], items: Sequence[Mapping[str, Any]], max_tokens: int | None
) -> dict[str, Any]:
    """The chat-completions body for a Responses request over the whole conversation's `items`.

    Raises:
        InvalidInput: an item, content part, tool or option chat completions cannot carry.
    """
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": str(body["instructions"])})
    messages.extend(to_messages(items))
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if max_tokens is not None:
        chat["max_tokens"] = max_tokens
    for name in SAME_NAME:
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("tools"):
        chat["tools"] = [_tool(tool, f"tools.{i}") for i, tool in enumerate(body["tools"])]
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    response_format = _response_format(_mapping(body.get("text"), "text").get("format"))
    if response_format is not None:
        chat["response_format"] = response_format
    effort = _mapping(body.get("reasoning"), "reasoning").get("effort")
    if effort:
        chat["reasoning_effort"] = _text(effort, "reasoning.effort")
    return chat


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    """An object of the request ({} when absent).

    Raises:
        InvalidInput: it is not an object.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where}: must be an object.", param=where)
    return value


def _text(value: Any, where: str) -> str:
    """A string of the request.

    Raises:
        InvalidInput: it is not a string.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: must be a string.", param=where)
    return value


def _parts(value: Any, where: str) -> list[Mapping[str, Any]]:
    """A list of content parts (objects).

    Raises:
        InvalidInput: it is not a list of objects.
    """
    if not isinstance(value, list):
        raise InvalidInput(f"{where}: must be a string or a list of content parts.", param=where)
    return [_mapping(part, f"{where}.{i}") for i, part in enumerate(value)]


def to_messages(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Input and output items as chat messages: an assistant's text and the function calls
    that follow it make one assistant message; a call's output is a `tool` message.

    Raises:
        InvalidInput: an item chat completions cannot carry.
    """
    messages: list[dict[str, Any]] = []
    for number, item in enumerate(items):
        where = f"input.{number}"
        item = _mapping(item, where)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            function = {
                "name": _text(item.get("name"), f"{where}.name"),
                "arguments": _text(item.get("arguments") or "", f"{where}.arguments"),
            }
            call_id = _text(item.get("call_id"), f"{where}.call_id")
            call = {"id": call_id, "type": "function", "function": function}
            last = messages[-1] if messages else None
            if last is None or last["role"] != "assistant":
                last = {"role": "assistant", "content": None}
                messages.append(last)
            last.setdefault("tool_calls", []).append(call)
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else _text_of(output, f"{where}.output")
            call_id = _text(item.get("call_id"), f"{where}.call_id")
            messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
        elif kind != "reasoning":  # the model's own reasoning is not sent back
            raise _unsupported("item", kind, where)
    return messages


def _message(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidInput(f"{where}.role: must be one of {sorted(ROLES)}.", param=f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if role == "assistant":
        return {"role": "assistant", "content": _text_of(content, where)}
    parts = [
        _part(part, f"{where}.content.{i}")
        for i, part in enumerate(_parts(content, f"{where}.content"))
    ]
    if all(part["type"] == "text" for part in parts):
        return {"role": role, "content": "".join(part["text"] for part in parts)}
    return {"role": role, "content": parts}


def _part(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = part.get("type")
    if not isinstance(kind, str):
        raise _unsupported("content", kind, where)
    if kind in {"input_text", "output_text", "text"}:
        return {"type": "text", "text": _text(part.get("text") or "", f"{where}.text")}
    if kind == "refusal":
        return {"type": "text", "text": _text(part.get("refusal") or "", f"{where}.refusal")}
    if kind == "input_image" and part.get("image_url"):
        image: dict[str, Any] = {"url": _text(part["image_url"], f"{where}.image_url")}
        if part.get("detail"):
            image["detail"] = _text(part["detail"], f"{where}.detail")
        return {"type": "image_url", "image_url": image}
    raise _unsupported("content", kind, where)


def _text_of(content: Any, where: str) -> str:
    """Text-only content (an assistant's output, a function's output) as one string."""
    texts = []
    for i, part in enumerate(_parts(content or [], where)):
        converted = _part(part, f"{where}.content.{i}")
        if converted["type"] != "text":
            raise _unsupported("content", part.get("type"), f"{where}.content.{i}")
        texts.append(converted["text"])
    return "".join(texts)


def _unsupported(what: str, kind: Any, where: str) -> InvalidInput:
    return InvalidInput(
        f"{where}: {what} of type {kind!r} is not supported by this gateway's /v1/responses.",
        param=where,
    )


def _tool(tool: Mapping[str, Any], where: str) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise InvalidInput(
            f"{where}: built-in tools ({tool.get('type')}) are not supported; "
            "declare function tools (type 'function') and run them yourself.",
            param=where,
        )
    parameters = _mapping(tool.get("parameters"), f"{where}.parameters")
    function: dict[str, Any] = {
        "name": _text(tool.get("name"), f"{where}.name"),
        "parameters": dict(parameters) or {"type": "object", "properties": {}},
    }
    for name in ("description", "strict"):
        if tool.get(name) is not None:
            function[name] = tool[name]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str) and choice in {"auto", "none", "required"}:
        return choice
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        name = _text(choice.get("name"), "tool_choice.name")
        return {"type": "function", "function": {"name": name}}
    kind = choice.get("type") if isinstance(choice, Mapping) else choice
    raise InvalidInput(f"tool_choice: {kind!r} is not supported here.", param="tool_choice")


def _response_format(value: Any) -> dict[str, Any] | None:
    text_format = _mapping(value, "text.format")
    kind = text_format.get("type")
    if not text_format or kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = {k: v for k, v in text_format.items() if k != "type"}
        return {"type": "json_schema", "json_schema": schema}
    raise InvalidInput(f"text.format: type {kind!r} is not supported.", param="text.format")


def output_of(completion: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A whole chat completion's answer as Responses output items."""
    choices = completion.get("choices") or [{}]
    message = choices[0].get("message") or {}
    output: list[dict[str, Any]] = []
    thought = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(thought, str) and thought:
        output.append(reasoning_item(thought))
    if message.get("content"):
        output.append(message_item(str(message["content"])))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        output.append(
            function_call_item(
                call.get("id") or new_id("call"),
                str(function.get("name") or ""),
                str(function.get("arguments") or ""),
            )
        )
    return output


def message_item(text: str, *, item_id: str = "", status: str = "completed") -> dict[str, Any]:
    """An assistant message output item holding one text part."""
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "type": "message",
        "id": item_id or new_id("msg"),
        "status": status,
        "role": "assistant",
        "content": content if text or status == "completed" else [],
    }


def reasoning_item(text: str, *, item_id: str = "", status: str = "completed") -> dict[str, Any]:
    """The model's reasoning as an output item (its text; no summary)."""
    return {
        "type": "reasoning",
        "id": item_id or new_id("rs"),
        "status": status,
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}] if text else [],
    }


def function_call_item(
    call_id: str, name: str, arguments: str, *, item_id: str = "", status: str = "completed"
) -> dict[str, Any]:
    """A function call output item: the client runs it and sends a `function_call_output`."""
    return {
        "type": "function_call",
        "id": item_id or new_id("fc"),
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def usage_of(
    prompt_tokens: int, completion_tokens: int, cached: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    """Tokens in the Responses API's usage shape."""
    return {
        "input_tokens": prompt_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt_tokens + completion_tokens,
    }


def response_object(
    body: Mapping[str, Any],
    *,
    response_id: str,
    model: str,
    created_at: int | None = None,
    status: str = "completed",
    output: list[dict[str, Any]] | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Response object for a request: what was asked, echoed, with what came out."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at or int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": output or [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": list(body.get("tools") or []),
        "top_p": body.get("top_p"),
        "truncation": "disabled",
        "usage": usage,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }
