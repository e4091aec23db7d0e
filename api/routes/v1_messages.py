"""The Anthropic-compatible surface: `/v1/messages` for Claude Code and Anthropic's SDKs."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api import anthropic_errors, v1_errors
from api.deps import PrincipalDep, ServicesDep
from api.direct_route import add_direct_route
from api.rate_headers import anthropic_rate_headers
from api.sse import FramedStream
from assistant.gateway import anthropic_format
from assistant.gateway.anthropic_format import MessageStream
from assistant.gateway.chunks import Chunk
from core.errors import SwitchboardError

router = APIRouter(prefix="/v1", tags=["Anthropic-compatible"])
v1_errors.register("/v1/messages", anthropic_errors.render)  # its errors in Anthropic's shape


class InputMessage(BaseModel):
    """One turn of a Messages request: text, or content blocks."""

    model_config = ConfigDict(extra="allow")
    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]


class CountTokensRequest(BaseModel):
    """The prompt of a Messages request, to count: model, messages, system, tools."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[InputMessage] = Field(min_length=1, max_length=10_000)
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=128)
    tool_choice: dict[str, Any] | None = None


class MessagesRequest(CountTokensRequest):
    """An Anthropic Messages request; `top_k`, `thinking` and other options are ignored."""

    max_tokens: int = Field(ge=1, le=1_000_000)
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop_sequences: list[str] | None = Field(default=None, max_length=16)
    metadata: dict[str, Any] | None = None


class TokenCount(BaseModel):
    """The tokens a prompt holds, counted as admission counts them."""

    input_tokens: int


class ContentBlock(BaseModel):
    """A `text` block (`text`) or a `tool_use` block (`id`, `name`, `input`)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["text", "tool_use"]


class MessageUsage(BaseModel):
    """Tokens the call used."""

    input_tokens: int
    output_tokens: int


class Message(BaseModel):
    """The model's answer, in Anthropic's shape."""

    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[ContentBlock]
    stop_reason: Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal"] | None
    stop_sequence: str | None
    usage: MessageUsage


async def create_message(
    body: MessagesRequest, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """Create a message with any chat model of the catalog, streamed (Anthropic's SSE events:
    `message_start`, `content_block_*`, `message_delta`, `message_stop`) or whole.

    Authenticated by an API token in `x-api-key` or `Authorization: Bearer`; the
    `anthropic-version` header is accepted and not needed. Metered like `/v1/chat/completions`
    (seat, budgets, rate limits, usage source `v1`), with Anthropic's `anthropic-ratelimit-*`
    headers where a rate limit applies; nothing is saved to chats.
    """
    passthrough = services.passthrough
    chat = anthropic_format.to_openai(body.model_dump(exclude_none=True))
    request = await passthrough.admit(caller=principal.caller, body=chat)
    model = request.call.model.name
    headers = anthropic_rate_headers(request.call.headroom)
    if not body.stream:
        completion = await passthrough.complete(request)
        message = anthropic_format.to_anthropic(completion, model=model)
        return JSONResponse(message, headers=headers)
    stream = MessageStream(model=model, input_tokens=request.call.prompt_tokens)
    batches = await passthrough.stream_chunks(request)
    framed = FramedStream(_events(batches, stream), ping_seconds=15)
    framed.raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
    return framed


# A JSON body skips FastAPI's request handling (api/direct_route.py).
add_direct_route(
    router, "/messages", create_message, response_model=Message, streamed="The message."
)


async def _events(
    batches: AsyncGenerator[list[Chunk]], stream: MessageStream
) -> AsyncGenerator[bytes]:
    """Anthropic's events, a write per provider read; a failure after the start is an `error`
    event (the status is sent)."""
    try:
        yield stream.start()
        async for batch in batches:
            frames = b"".join([stream.feed(chunk) for chunk in batch])
            if frames:
                yield frames
    except SwitchboardError as exc:
        yield anthropic_format.error_event(anthropic_errors.stream_error_type(exc), exc.message)
        return
    finally:
        await batches.aclose()
    yield stream.finish()


@router.post("/messages/count_tokens", response_model=TokenCount)
async def count_message_tokens(
    body: CountTokensRequest, principal: PrincipalDep, services: ServicesDep
) -> TokenCount:
    """Count a Messages prompt's tokens (system, messages, tools) as Switchboard's admission
    does, with the model's tokenizer where it is known (else an OpenAI one): no model call, not
    metered. The model must exist and be on for the caller."""
    model = services.catalog.usable(body.model, principal.team_ids)
    chat = anthropic_format.to_openai({**body.model_dump(exclude_none=True), "max_tokens": 1})
    return TokenCount(input_tokens=await anthropic_format.count_input_tokens(chat, model.name))
