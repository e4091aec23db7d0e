"""`/v1/responses`: OpenAI's Responses API for SDK clients, over every chat model of the catalog."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import PrincipalDep, ServicesDep, SessionDep
from api.rate_headers import rate_headers
from api.sse import FramedStream
from assistant.gateway import stored_responses
from assistant.gateway.responses import ResponseRequests

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])


class ResponseRequest(BaseModel):
    """A Responses API request; options chat completions cannot carry are refused or ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    input: str | Annotated[list[dict[str, Any]], Field(min_length=1, max_length=10_000)] = Field(
        description="A user message, or a list of input items (messages, function_call, "
        "function_call_output)."
    )
    instructions: str | None = Field(default=None, max_length=1_000_000)
    previous_response_id: str | None = Field(default=None, max_length=64)
    store: bool = True
    stream: bool = False
    max_output_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    user: str | None = Field(default=None, max_length=512)
    metadata: dict[str, str] | None = None


class ResponseObject(BaseModel):
    """OpenAI's Response object: `output` items (messages, function calls) and `usage`."""

    model_config = ConfigDict(extra="allow")
    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: str
    model: str
    output: list[dict[str, Any]]
    usage: dict[str, Any] | None = None


class InputItemList(BaseModel):
    """A page of a response's input items, OpenAI's list shape."""

    model_config = ConfigDict(extra="allow")
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool


class DeletedResponse(BaseModel):
    """A stored response, deleted."""

    id: str
    object: Literal["response"] = "response"
    deleted: bool = True


def _requests(services: ServicesDep) -> ResponseRequests:
    return ResponseRequests(passthrough=services.passthrough, sessions=services.sessions)


STREAMED: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "The response, or its events."}
}


@router.post("/responses", response_model=ResponseObject, responses=STREAMED)
async def create_response(
    body: ResponseRequest, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """Create a model response, streamed (typed SSE events: `response.created`,
    `response.output_text.delta`, `response.function_call_arguments.delta`, …,
    `response.completed`) or whole, with any chat model of the catalog.

    `instructions` is the system message of this turn; `previous_response_id` continues one of
    the caller's stored responses (another user's is not found); function tools come back as
    `function_call` output items, answered with `function_call_output` input items on the next
    turn. Unless `store` is false the response is kept for its owner. Metered against the
    caller's seat, budgets and rate limits like `/v1/chat/completions` (usage source `v1`),
    with `X-RateLimit-*` headers.
    Built-in tools (web_search, file_search, …) are not supported.
    """
    requests = _requests(services)
    raw = body.model_dump(exclude_none=True)
    opened = await requests.open(caller=principal.caller, body=raw)
    headers = rate_headers(opened.request.call.headroom)
    if not body.stream:
        return JSONResponse(await requests.complete(opened), headers=headers)
    stream = FramedStream(await requests.stream(opened), ping_seconds=15)
    stream.raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return stream


@router.get("/responses/{response_id}", response_model=ResponseObject)
async def get_response(
    response_id: str, principal: PrincipalDep, session: SessionDep
) -> ResponseObject:
    """One of the caller's stored responses, as it was returned (404 for anyone else's)."""
    row = await stored_responses.get_owned(
        session, user_id=principal.user.id, response_id=response_id
    )
    # The one validation FastAPI made of the dict; it takes the instance as it is.
    return ResponseObject.model_validate(row.response)


@router.get("/responses/{response_id}/input_items", response_model=InputItemList)
async def list_input_items(
    response_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> InputItemList:
    """The items one of the caller's stored responses answered: the earlier turns of its
    conversation and its own input (newest first unless `order=asc`), `limit` after `after`."""
    page = await stored_responses.input_items(
        session,
        user_id=principal.user.id,
        response_id=response_id,
        limit=limit,
        order=order,
        after=after,
    )
    ids = [str(item.get("id")) for item in page.items]
    return InputItemList(
        data=page.items,
        first_id=ids[0] if ids else None,
        last_id=ids[-1] if ids else None,
        has_more=page.has_more,
    )


@router.delete("/responses/{response_id}", response_model=DeletedResponse)
async def delete_response(
    response_id: str, principal: PrincipalDep, session: SessionDep
) -> DeletedResponse:
    """Delete one of the caller's stored responses: its turn leaves the conversation, so a later
    response of the chain continues without it (404 for anyone else's)."""
    await stored_responses.delete_owned(session, user_id=principal.user.id, response_id=response_id)
    return DeletedResponse(id=response_id)
