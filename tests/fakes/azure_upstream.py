"""A fake of Azure OpenAI on 127.0.0.1, as LiteLLM's `azure/` provider calls it with `api_base`:
`POST /openai/deployments/{deployment}/chat/completions?api-version=...`, the key in `api-key`.

The body and answers are OpenAI's chat completions, with Azure's own touches: a request without
`api-version` is refused (404, as Azure does), a stream opens with a chunk whose `choices` is
empty and that carries `prompt_filter_results`, and cached prompt tokens are reported in
`usage.prompt_tokens_details.cached_tokens`. Failures use OpenAI's error body; a mid-stream
failure drops the connection.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.formats import FormatFake, Step, seen_of, sse

API_VERSION = "2024-10-21"


class AzureUpstream(FormatFake):
    """Azure OpenAI's wire format."""

    name = "azure"

    def routes(self) -> list[Route]:
        path = "/openai/deployments/{deployment}/chat/completions"
        return [Route(path, self._chat, methods=["POST"])]

    def params(self, model: str) -> dict[str, Any]:
        return {
            "model": f"azure/{model}",
            "api_base": self.base_url,
            "api_key": "test-key",
            "api_version": API_VERSION,
        }

    async def _chat(self, request: Request) -> Response:
        if "api-version" not in request.query_params:
            missing = {"code": "404", "message": "Resource not found"}
            return JSONResponse({"error": missing}, status_code=404)
        deployment = str(request.path_params["deployment"])
        seen = await seen_of(request)
        step = self.take(deployment, seen)
        if step.failing:
            status = int(step.reply.fail_status or 500)
            error = {"message": "fake failure", "type": "server_error", "code": str(status)}
            return JSONResponse({"error": error}, status_code=status)
        if seen.body.get("stream"):
            usage = bool((seen.body.get("stream_options") or {}).get("include_usage"))
            chunks = _chunks(step, deployment, usage=usage)
            return StreamingResponse(chunks, media_type="text/event-stream")
        return JSONResponse(_completion(step, deployment))


def _usage(step: Step) -> dict[str, Any]:
    reply = step.reply
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cache_read},
    }


def _calls(step: Step, *, indexed: bool = False) -> list[dict[str, Any]]:
    return [
        {**({"index": i} if indexed else {}), **call}
        for i, call in enumerate(step.tool_calls or [])
    ]


def _finish(step: Step) -> str:
    return "tool_calls" if step.tool_calls is not None else "stop"


def _completion(step: Step, deployment: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if step.tool_calls is None:
        message["content"] = step.reply.text
    else:
        message["tool_calls"] = _calls(step)
    choice = {"index": 0, "message": message, "finish_reason": _finish(step)}
    return {**_head(deployment, "chat.completion"), "choices": [choice], "usage": _usage(step)}


def _head(deployment: str, kind: str) -> dict[str, Any]:
    created = int(time.time())
    return {"id": "chatcmpl-azure", "object": kind, "created": created, "model": deployment}


def _chunk(deployment: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {**_head(deployment, "chat.completion.chunk"), "choices": [choice]}


async def _chunks(step: Step, deployment: str, *, usage: bool) -> AsyncIterator[bytes]:
    filters = [{"prompt_index": 0, "content_filter_results": {}}]
    yield sse({**_head(deployment, ""), "choices": [], "prompt_filter_results": filters})
    reply = step.reply
    for number, piece in enumerate(step.pieces()):
        if reply.break_after is not None and number >= reply.break_after:
            raise ConnectionAbortedError("fake azure broke the stream")
        delta = {"content": piece} if number else {"role": "assistant", "content": piece}
        yield sse(_chunk(deployment, delta))
    if step.tool_calls is not None:
        calls = {"role": "assistant", "tool_calls": _calls(step, indexed=True)}
        yield sse(_chunk(deployment, calls))
    yield sse(_chunk(deployment, {}, _finish(step)))
    if usage:
        head = _head(deployment, "chat.completion.chunk")
        yield sse({**head, "choices": [], "usage": _usage(step)})
    yield b"data: [DONE]\n\n"
