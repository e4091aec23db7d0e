"""The OpenAI-compatible surface for SDK clients: `/v1/chat/completions` and `/v1/models`.

Errors on every `/v1` path are OpenAI's shape (api/v1_errors.py); metered answers carry
`X-RateLimit-*` headers (api/rate_headers.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator
from typing import Any, Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api import v1_errors
from api.deps import ModelRuleDep, PrincipalDep, ServicesDep
from api.direct_route import add_direct_route
from api.rate_headers import rate_headers
from api.sse import FramedStream
from core.catalog import CatalogModel, UnknownModel
from core.errors import SwitchboardError

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])
CREATED = int(time.time())  # the catalog keeps no creation time: this process's start


class ChatMessage(BaseModel):
    """One message of an OpenAI chat request."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    """OpenAI's `stream_options`: `include_usage` adds a last chunk with the usage (no choices)."""

    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class CompletionRequest(BaseModel):
    """An OpenAI chat completion request; OpenAI's other parameters (seed, user, stop,
    response_format, reasoning_effort, ...) pass through to the provider."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=10_000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(default=None, ge=1, le=128)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=128)


class CompletionChoice(BaseModel):
    """One choice of a whole completion (the provider's other fields are kept)."""

    model_config = ConfigDict(extra="allow")
    index: int
    message: ChatMessage
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class CompletionUsage(BaseModel):
    """Tokens the completion used (the provider's details are kept)."""

    model_config = ConfigDict(extra="allow")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """OpenAI's `chat.completion` object (or, streamed, `chat.completion.chunk` SSE events)."""

    model_config = ConfigDict(extra="allow")
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage | None = None


class Model(BaseModel):
    """OpenAI's model object."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    """OpenAI's list of models."""

    object: Literal["list"] = "list"
    data: list[Model]


DONE = b"data: [DONE]\n\n"


async def chat_completions(
    body: CompletionRequest, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """Create a chat completion, streamed (SSE `data:` chunks, then `[DONE]`) or whole.

    Metered against the caller's seat, budgets and rate limits like chat; nothing is saved to
    chats. A client that disconnects cancels the call upstream and is billed for what it got.
    The usage chunk ends a stream only when `stream_options.include_usage` asks for it.
    """
    passthrough = services.passthrough
    raw = body.model_dump(exclude_none=True)
    request = await passthrough.admit(caller=principal.caller, body=raw)
    headers = rate_headers(request.call.headroom)
    if not body.stream:
        return JSONResponse(await passthrough.complete(request), headers=headers)
    batches = await passthrough.stream(request)
    stream = FramedStream(_frames(batches), ping_seconds=15, last=DONE)
    stream.raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return stream


# A JSON body skips FastAPI's request handling (api/direct_route.py).
add_direct_route(
    router,
    "/chat/completions",
    chat_completions,
    response_model=ChatCompletion,
    streamed="The completion.",
)


async def _frames(batches: AsyncGenerator[list[bytes]]) -> AsyncGenerator[bytes]:
    """OpenAI's SSE: a `data:` line per chunk (a write per provider read), then `[DONE]`."""
    try:
        async for batch in batches:
            yield b"".join([b"data: " + item + b"\n\n" for item in batch])
    except SwitchboardError as exc:
        # Headers are sent: the failure travels as OpenAI's in-stream error object.
        error = {"error": v1_errors.openai_error(v1_errors.problem_of(exc))}
        yield b"data: " + json.dumps(error, separators=(",", ":")).encode() + b"\n\n"
        return
    finally:
        await batches.aclose()
    yield DONE


@router.get("/models", response_model=ModelList)
async def list_models(
    principal: PrincipalDep, services: ServicesDep, rule: ModelRuleDep
) -> ModelList:
    """The models the caller may use, in OpenAI's list shape (a model an admin turned off for
    one of the caller's teams, or that the caller's usage profile does not allow, is not listed:
    the same rule that refuses a call)."""
    catalog = services.catalog
    return ModelList(
        data=[
            _model(m)
            for m in catalog.models.values()
            if m.available and not catalog.blocked(m, principal.team_ids) and rule.admits(m)
        ]
    )


@router.get("/models/{model_id:path}", response_model=Model)
async def retrieve_model(
    model_id: str, principal: PrincipalDep, services: ServicesDep, rule: ModelRuleDep
) -> Model:
    """One model the caller may use (by name or alias), in OpenAI's shape; 404 `model_not_found`
    for a model that is unknown, not set up, turned off for the caller or outside their usage
    profile."""
    catalog = services.catalog
    model = catalog.resolve(model_id)
    if not model.available or catalog.blocked(model, principal.team_ids) or not rule.admits(model):
        raise UnknownModel(f"No model named {model_id!r} is available.", model=model_id)
    return _model(model)


def _model(model: CatalogModel) -> Model:
    return Model(id=model.name, created=CREATED, owned_by=",".join(model.providers))
