"""A fake of Anthropic's Messages API on 127.0.0.1: `POST /v1/messages`, as LiteLLM's `anthropic/`
provider calls it with `api_base` (an `x-api-key` header, `anthropic-version`).

Answers carry thinking blocks (with a signature), text and `tool_use` blocks; streams are
Anthropic's named SSE events (message_start, content_block_start/delta/stop, message_delta,
message_stop). Usage is Anthropic's: `input_tokens` excludes the prompt-cache tokens, which come as
`cache_creation_input_tokens` and `cache_read_input_tokens`. Failures use Anthropic's error body
(`{"type": "error", "error": {"type", "message"}}`; 529 is `overloaded_error`); a mid-stream
failure is an `error` event, as Anthropic sends when it is overloaded after the first token.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.formats import FormatFake, Reply, Step, seen_of, sse

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class AnthropicUpstream(FormatFake):
    """Anthropic's wire format."""

    name = "anthropic"

    def routes(self) -> list[Route]:
        return [Route("/v1/messages", self._messages, methods=["POST"])]

    def params(self, model: str) -> dict[str, Any]:
        return {"model": f"anthropic/{model}", "api_base": self.base_url, "api_key": "test-key"}

    async def _messages(self, request: Request) -> Response:
        seen = await seen_of(request)
        step = self.take(str(seen.body.get("model")), seen)
        if step.failing:
            return error_response(int(step.reply.fail_status or 500))
        if seen.body.get("stream"):
            return StreamingResponse(_events(step, seen.body), media_type="text/event-stream")
        return JSONResponse(_message(step, seen.body))


def error_response(status: int) -> JSONResponse:
    """Anthropic's error body for a status."""
    kind = ERROR_TYPES.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": f"fake {kind}"}}
    return JSONResponse(body, status_code=status)


def _usage(reply: Reply, *, output: int) -> dict[str, int]:
    return {
        "input_tokens": reply.prompt_tokens - reply.cache_read - reply.cache_write,
        "cache_creation_input_tokens": reply.cache_write,
        "cache_read_input_tokens": reply.cache_read,
        "output_tokens": output,
    }


def _stop_reason(step: Step) -> str:
    return "tool_use" if step.tool_calls is not None else "end_turn"


def _message(step: Step, body: dict[str, Any]) -> dict[str, Any]:
    reply = step.reply
    content: list[dict[str, Any]] = []
    if reply.thinking:
        content.append({"type": "thinking", "thinking": reply.thinking, "signature": "sig-fake"})
    if step.tool_calls is None:
        content.append({"type": "text", "text": reply.text})
    for call_id, name, arguments in step.calls():
        content.append({"type": "tool_use", "id": call_id, "name": name, "input": arguments})
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": content,
        "stop_reason": _stop_reason(step),
        "stop_sequence": None,
        "usage": _usage(reply, output=reply.completion_tokens),
    }


async def _events(step: Step, body: dict[str, Any]) -> AsyncIterator[bytes]:
    reply = step.reply
    start = {
        **_message(step, body),
        "content": [],
        "stop_reason": None,
        "usage": _usage(reply, output=1),
    }
    yield sse({"type": "message_start", "message": start}, "message_start")
    index = 0
    if reply.thinking:
        yield _block_start(index, {"type": "thinking", "thinking": ""})
        yield _delta(index, {"type": "thinking_delta", "thinking": reply.thinking})
        yield _delta(index, {"type": "signature_delta", "signature": "sig-fake"})
        yield _block_stop(index)
        index += 1
    pieces = step.pieces()
    if pieces:
        yield _block_start(index, {"type": "text", "text": ""})
        for number, piece in enumerate(pieces):
            if reply.break_after is not None and number >= reply.break_after:
                overloaded = {"type": "overloaded_error", "message": "Overloaded"}
                yield sse({"type": "error", "error": overloaded}, "error")
                return
            yield _delta(index, {"type": "text_delta", "text": piece})
        yield _block_stop(index)
        index += 1
    for call_id, name, arguments in step.calls():
        yield _block_start(index, {"type": "tool_use", "id": call_id, "name": name, "input": {}})
        text = json.dumps(arguments)
        for half in (text[: len(text) // 2], text[len(text) // 2 :]):
            yield _delta(index, {"type": "input_json_delta", "partial_json": half})
        yield _block_stop(index)
        index += 1
    delta = {"stop_reason": _stop_reason(step), "stop_sequence": None}
    usage = {"output_tokens": reply.completion_tokens}
    yield sse({"type": "message_delta", "delta": delta, "usage": usage}, "message_delta")
    yield sse({"type": "message_stop"}, "message_stop")


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    payload = {"type": "content_block_start", "index": index, "content_block": block}
    return sse(payload, "content_block_start")


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    payload = {"type": "content_block_delta", "index": index, "delta": delta}
    return sse(payload, "content_block_delta")


def _block_stop(index: int) -> bytes:
    return sse({"type": "content_block_stop", "index": index}, "content_block_stop")
