"""OpenAI's legacy completions API, `/v1/completions`, for clients that still speak it."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api import v1_errors
from api.deps import PrincipalDep, ServicesDep
from api.rate_headers import rate_headers
from api.sse import FramedStream
from assistant.gateway import text_completion
from assistant.gateway.chunks import Chunk
from assistant.gateway.text_completion import TextStream
from core.errors import InvalidInput, SwitchboardError

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])
MAX_PROMPTS = 16


class TextCompletionRequest(BaseModel):
    """A legacy completion request; one text prompt, or a list of them (not streamed)."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    prompt: str | list[str] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: Literal[1] = 1
    temperature: float | None = Field(default=None, ge=0, le=2)
    echo: bool = False
    best_of: int | None = None
    logprobs: int | None = None
    suffix: str | None = None


class TextChoice(BaseModel):
    """The answer to one prompt."""

    text: str
    index: int
    logprobs: None = None
    finish_reason: str | None


class TextUsage(BaseModel):
    """Tokens the request used, all prompts together."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TextCompletion(BaseModel):
    """A legacy completion: a choice per prompt."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[TextChoice]
    usage: TextUsage


STREAMED: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "The completion."}
}


@router.post("/completions", response_model=TextCompletion, responses=STREAMED)
async def create_completion(
    body: TextCompletionRequest, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """Complete a prompt with any chat model of the catalog (the prompt is sent as one user
    message), streamed (`data:` chunks, then `[DONE]`) or whole; a list of prompts gets a choice
    each. Metered like `/v1/chat/completions` (usage source `v1`, `X-RateLimit-*` headers).

    Not supported: `echo`, `logprobs`, `suffix`, `best_of` above 1, `n` above 1, token-array
    prompts, and a list of prompts when streamed.
    """
    _check_supported(body)
    raw = body.model_dump(exclude_none=True)
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    passthrough = services.passthrough
    requests = await text_completion.admit_all(
        passthrough,
        caller=principal.caller,
        bodies=[text_completion.to_chat(raw, prompt) for prompt in prompts],
    )
    model = requests[0].call.model.name
    headers = rate_headers(requests[-1].call.headroom)  # what the last admission left
    if not body.stream:
        answer = await text_completion.complete_all(passthrough, requests, model=model)
        return JSONResponse(answer, headers=headers)
    include_usage = bool((body.stream_options or {}).get("include_usage"))
    stream = TextStream(model=model, include_usage=include_usage)
    batches = await passthrough.stream_chunks(requests[0])
    framed = FramedStream(_frames(batches, stream), ping_seconds=15)
    framed.raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return framed


def _check_supported(body: TextCompletionRequest) -> None:
    unsupported = [
        name
        for name, used in (
            ("echo", body.echo),
            ("logprobs", body.logprobs is not None),
            ("suffix", body.suffix is not None),
            ("best_of", (body.best_of or 1) > 1),
        )
        if used
    ]
    if unsupported:
        raise InvalidInput(
            f"/v1/completions does not support {', '.join(unsupported)} here.",
            field=unsupported[0],
        )
    if isinstance(body.prompt, list):
        if len(body.prompt) > MAX_PROMPTS:
            raise InvalidInput(f"At most {MAX_PROMPTS} prompts a request.", field="prompt")
        if body.stream and len(body.prompt) > 1:
            raise InvalidInput("A list of prompts cannot be streamed.", field="prompt")


async def _frames(
    batches: AsyncGenerator[list[Chunk]], stream: TextStream
) -> AsyncGenerator[bytes]:
    """`data:` lines, a write per provider read, then `[DONE]`."""
    try:
        async for batch in batches:
            items = [item for item in map(stream.chunk, batch) if item is not None]
            if items:
                yield b"".join([b"data: " + item + b"\n\n" for item in items])
    except SwitchboardError as exc:
        # Headers are sent: the failure travels as OpenAI's in-stream error object.
        error = {"error": v1_errors.openai_error(v1_errors.problem_of(exc))}
        yield b"data: " + json.dumps(error, separators=(",", ":")).encode() + b"\n\n"
        return
    finally:
        await batches.aclose()
    yield b"data: [DONE]\n\n"
