"""A fake of Gemini's generateContent API on 127.0.0.1, as LiteLLM's `gemini/` provider calls it
with `api_base`: `POST {base}/models/{model}:generateContent` and
`POST {base}/models/{model}:streamGenerateContent?alt=sse`, the key in `x-goog-api-key`.

Answers are `candidates[0].content.parts`: thought parts (`"thought": true`) first, then text or
`functionCall` parts. A stream is `data: <GenerateContentResponse>` events, each carrying the
running `usageMetadata` (`promptTokenCount` includes the cached tokens, counted again in
`cachedContentTokenCount`; `thoughtsTokenCount` apart from `candidatesTokenCount`). Failures use
Google's error body (`{"error": {"code", "message", "status"}}`); a mid-stream failure drops the
connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.formats import FormatFake, Reply, Step, seen_of, sse

STATUSES = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}


class GeminiUpstream(FormatFake):
    """Gemini's wire format."""

    name = "gemini"

    def routes(self) -> list[Route]:
        return [Route("/models/{call:path}", self._generate, methods=["POST"])]

    def params(self, model: str) -> dict[str, Any]:
        return {"model": f"gemini/{model}", "api_base": self.base_url, "api_key": "test-key"}

    async def _generate(self, request: Request) -> Response:
        model, _, method = str(request.path_params["call"]).partition(":")
        seen = await seen_of(request)
        step = self.take(model, seen)
        if step.failing:
            status = int(step.reply.fail_status or 500)
            error = {"code": status, "message": "fake failure", "status": STATUSES.get(status)}
            return JSONResponse({"error": error}, status_code=status)
        if method == "streamGenerateContent":
            return StreamingResponse(_stream(step, model), media_type="text/event-stream")
        return JSONResponse(_answer(step, model, _parts(step, step.reply.text)))


def _thought_tokens(reply: Reply) -> int:
    return len(reply.thinking.split())


def _usage(reply: Reply, candidates: int) -> dict[str, int]:
    usage = {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": reply.prompt_tokens + candidates + _thought_tokens(reply),
    }
    if reply.thinking:
        usage["thoughtsTokenCount"] = _thought_tokens(reply)
    if reply.cache_read:
        usage["cachedContentTokenCount"] = reply.cache_read
    return usage


def _parts(step: Step, text: str, *, thought: bool = True) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if thought and step.reply.thinking:
        parts.append({"text": step.reply.thinking, "thought": True})
    if step.tool_calls is None and text:
        parts.append({"text": text})
    for _call_id, name, arguments in step.calls():
        parts.append({"functionCall": {"name": name, "args": arguments}})
    return parts


def _answer(
    step: Step, model: str, parts: list[dict[str, Any]], *, final: bool = True
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if final:
        candidate["finishReason"] = "STOP"
    candidates = step.reply.completion_tokens if final else 1
    return {
        "candidates": [candidate],
        "usageMetadata": _usage(step.reply, candidates),
        "modelVersion": model,
        "responseId": "fake-response",
    }


async def _stream(step: Step, model: str) -> AsyncIterator[bytes]:
    reply = step.reply
    if reply.thinking:
        parts = [{"text": reply.thinking, "thought": True}]
        yield sse(_answer(step, model, parts, final=False))
    pieces = step.pieces()
    for number, piece in enumerate(pieces):
        if reply.break_after is not None and number >= reply.break_after:
            raise ConnectionAbortedError("fake gemini broke the stream")
        last = number == len(pieces) - 1
        yield sse(_answer(step, model, [{"text": piece}], final=last))
    if step.tool_calls is not None:
        yield sse(_answer(step, model, _parts(step, "", thought=False)))
