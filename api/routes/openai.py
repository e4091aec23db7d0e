"""The OpenAI-compatible surface for SDK clients: `/v1/chat/completions` and `/v1/models`."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import PrincipalDep, ServicesDep
from api.sse import FramedStream
from core.errors import SwitchboardError

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])


class ChatMessage(BaseModel):
    """One message of an OpenAI chat request."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class CompletionRequest(BaseModel):
    """An OpenAI chat completion request; unknown provider options are ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=10_000)
    stream: bool = False
    n: Literal[1] = 1
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=128)


@router.post("/chat/completions")
async def chat_completions(
    body: CompletionRequest, principal: PrincipalDep, services: ServicesDep
) -> Any:
    """Create a chat completion, streamed (SSE `data:` chunks, then `[DONE]`) or whole.

    Metered against the caller's seat, budgets and rate limits like chat; nothing is saved to
    chats. A client that disconnects cancels the call upstream and is billed for what it got.
    """
    passthrough = services.passthrough
    raw = body.model_dump(exclude_none=True)
    request = await passthrough.admit(caller=principal.caller, body=raw)
    if not body.stream:
        return JSONResponse(await passthrough.complete(request))
    batches = await passthrough.stream(request)
    return FramedStream(_frames(batches), ping_seconds=15)


async def _frames(batches: AsyncGenerator[list[bytes]]) -> AsyncGenerator[bytes]:
    """OpenAI's SSE: a `data:` line per chunk (a write per provider read), then `[DONE]`."""
    try:
        async for batch in batches:
            yield b"".join([b"data: " + item + b"\n\n" for item in batch])
    except SwitchboardError as exc:
        # Headers are sent: the failure travels as OpenAI's in-stream error object.
        error = {"error": {"message": exc.message, "type": "server_error", "code": exc.code}}
        yield b"data: " + json.dumps(error, separators=(",", ":")).encode() + b"\n\n"
        return
    finally:
        await batches.aclose()
    yield b"data: [DONE]\n\n"


@router.get("/models")
async def list_models(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    """The models the caller may use, in OpenAI's list shape (a model an admin turned off for
    one of the caller's teams is not listed)."""
    created = int(time.time())
    catalog = services.catalog
    data = [
        {"id": m.name, "object": "model", "created": created, "owned_by": ",".join(m.providers)}
        for m in catalog.models.values()
        if m.available and not catalog.blocked(m, principal.team_ids)
    ]
    return {"object": "list", "data": data}
