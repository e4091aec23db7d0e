"""A fake of Ollama's chat API on 127.0.0.1: `POST /api/chat`, as LiteLLM's `ollama_chat/`
provider calls it with `api_base` (no key).

Answers are `{"message": {"role", "content", "thinking", "tool_calls"}, "done": true, ...}` with
Ollama's token counts (`prompt_eval_count`, `eval_count`); a stream is NDJSON, one such object a
line, the last with `done: true` and the counts. Tool call arguments are JSON objects, not
strings, and carry no id. Failures are `{"error": "..."}`; a mid-stream failure is an `error`
line, as Ollama writes when a model fails after it started answering.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.formats import FormatFake, Step, seen_of

CREATED_AT = "2026-01-01T00:00:00.000000Z"


class OllamaUpstream(FormatFake):
    """Ollama's wire format."""

    name = "ollama"

    def routes(self) -> list[Route]:
        return [Route("/api/chat", self._chat, methods=["POST"])]

    def params(self, model: str) -> dict[str, Any]:
        return {"model": f"ollama_chat/{model}", "api_base": self.base_url}

    async def _chat(self, request: Request) -> Response:
        seen = await seen_of(request)
        model = str(seen.body.get("model"))
        step = self.take(model, seen)
        if step.failing:
            status = int(step.reply.fail_status or 500)
            return JSONResponse({"error": f"fake failure {status}"}, status_code=status)
        if seen.body.get("stream"):
            return StreamingResponse(_lines(step, model), media_type="application/x-ndjson")
        message = _message(step, step.reply.text, thinking=step.reply.thinking)
        return JSONResponse(_final(step, model, message))


def _message(step: Step, text: str, *, thinking: str = "", calls: bool = True) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if thinking:
        message["thinking"] = thinking
    if calls and step.tool_calls is not None:
        message["content"] = ""
        message["tool_calls"] = [
            {"function": {"name": name, "arguments": arguments}}
            for _call_id, name, arguments in step.calls()
        ]
    return message


def _final(step: Step, model: str, message: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": CREATED_AT,
        "message": message,
        "done": True,
        "done_reason": "stop",
        "total_duration": 1000,
        "prompt_eval_count": step.reply.prompt_tokens,
        "eval_count": step.reply.completion_tokens,
    }


def _line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode() + b"\n"


async def _lines(step: Step, model: str) -> AsyncIterator[bytes]:
    reply = step.reply
    base = {"model": model, "created_at": CREATED_AT, "done": False}
    if reply.thinking:
        yield _line({**base, "message": _message(step, "", thinking=reply.thinking, calls=False)})
    for number, piece in enumerate(step.pieces()):
        if reply.break_after is not None and number >= reply.break_after:
            yield _line({"error": "fake ollama failed mid-stream"})
            return
        yield _line({**base, "message": _message(step, piece, calls=False)})
    if step.tool_calls is not None:
        yield _line({**base, "message": _message(step, "")})
    yield _line(_final(step, model, {"role": "assistant", "content": ""}))
