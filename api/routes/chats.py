"""Chats, messages and streamed answers."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from api.deps import ChatDep, CurrentUser, PageDep, PrincipalDep, ServicesDep, SessionDep
from api.errors import error_response
from api.hal import Collection, Resource, api_router, collection, collection_of, resource
from api.responses import (
    EVENT_STREAM,
    JSON_OR_MARKDOWN,
    ChatFound,
    ChatResource,
    MessageResource,
    ToolDecision,
)
from api.sse import FramedStream, event_stream
from assistant.chat import answer_edits, branches, chats, feedback
from assistant.chat import export as chat_export
from assistant.chat import search as chat_search
from assistant.chat.engine import TurnOptions
from assistant.chat.export import ExportFormat
from assistant.chat.runs import Run
from assistant.chat.search import ChatFilter
from assistant.feedback_schemas import MessageUpdate
from assistant.models import Chat, Message
from assistant.schemas import (
    BranchSwitch,
    ChatCreate,
    ChatRead,
    ChatUpdate,
    MessageCreate,
    MessageRead,
    RegenerateRequest,
    ToolApproval,
)
from core.errors import SwitchboardError

router = api_router(prefix="/api/chats", tags=["Chats"])
SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"description": "The answer, when not streaming.", "model": MessageResource},
    200: {
        "description": "With `stream: true`: SSE events start, delta*, usage, done | error.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
}
# The answer routes return a Response either way (SSE, or the JSON of SSE_RESPONSES' 201);
# `response_model=Any` is what their old `-> Any` gave FastAPI (/openapi.json unchanged).
ANSWER_ROUTE: dict[str, Any] = dict(status_code=201, responses=SSE_RESPONSES, response_model=Any)


def chat_body(chat: Chat) -> Resource[ChatRead]:
    """A chat as a HAL resource."""
    href = f"/api/chats/{chat.id}"
    return resource(
        ChatRead.model_validate(chat),
        href,
        messages=href + "/messages",
        switch=href + "/_switch",
        export=href + "/_export",
        shares=href + "/shares",
    )


def message_body(message: Message, sibling_ids: list[str] | None = None) -> Resource[MessageRead]:
    """A message as a HAL resource, with its alternatives when known."""
    href = f"/api/chats/{message.chat_id}/messages/{message.id}"
    read = MessageRead.model_validate(message)
    siblings = sibling_ids or [message.id]
    read = read.model_copy(
        update={"sibling_ids": siblings, "sibling_index": siblings.index(message.id)}
    )
    links = {"events": href + "/events"}
    if message.role == "user":
        links["edit"] = href + "/_edit"
    else:  # an answer is edited with PATCH on itself
        links |= {"regenerate": href + "/_regenerate", "continue": href + "/_continue"}
        links["fork"] = href + "/_fork"
    return resource(read, href, **links)


def branch_message_body(item: branches.BranchMessage) -> Resource[MessageRead]:
    """A message of a branch listing, with its siblings."""
    return message_body(item.message, item.sibling_ids)


@router.get("", response_model=collection_of("chats", ChatFound), response_model_exclude_unset=True)
async def list_chats(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    archived: bool = False,
    pinned: bool | None = None,
    folder_id: Annotated[str | None, Query(alias="folderId", max_length=26)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
) -> Collection[Resource[ChatRead]]:
    """Your chats, pinned first, then most recently active.

    `q` matches titles and the text of any message; each match carries `snippet` (the text
    around the first message that holds the words, or the title) and `matchedMessageId`.
    Archived chats are left out unless `archived=true`, which lists only them. `pinned`,
    `folderId` (a chat folder) and `tag` narrow the list further.
    """
    filters = ChatFilter(archived=archived, pinned=pinned, folder_id=folder_id, tag=tag)
    result = await chats.list_page(session, user_id=user.id, page=page, filters=filters)
    found = {}
    if page.q:
        found = await chat_search.matches(session, chats=result.items, q=page.q)

    def render(chat: Chat) -> Resource[ChatRead]:  # ChatFound: with `q`, the match's fields
        body = chat_body(chat)
        match = found.get(chat.id)
        if match is not None:
            body["snippet"] = match.snippet
            body["matchedMessageId"] = match.message_id
        return body

    params: dict[str, Any] = {"q": page.q, "sort": page.sort, "folderId": folder_id, "tag": tag}
    params |= {"archived": "true" if archived else None, "pinned": pinned}
    return collection("chats", "/api/chats", result, render, params)


@router.post("", status_code=201, response_model=ChatResource)
async def create_chat(
    body: ChatCreate, principal: PrincipalDep, session: SessionDep, services: ServicesDep
) -> Resource[ChatRead]:
    """Start a chat (optionally with a title, a model, and an assistant you may use).

    With library `fileIds`/`folderIds`, answers are grounded in their passages and cited in a
    `citations` event before `done`. `toolkitIds` must name toolkits you may use (else 404
    `toolkit_not_found`); an assistant's secrets still go only to the toolkits it carries."""
    if body.toolkit_ids:
        await services.toolkits.require_usable(user=principal.user, toolkit_ids=body.toolkit_ids)
    chat = await chats.create(
        session, user_id=principal.user.id, data=body, team_ids=principal.team_ids
    )
    return chat_body(chat)


@router.get("/{chat_id}", response_model=ChatResource)
async def get_chat(chat: ChatDep) -> Resource[ChatRead]:
    """One of your chats."""
    return chat_body(chat)


@router.patch("/{chat_id}", response_model=ChatResource)
async def update_chat(
    chat: ChatDep,
    body: ChatUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    services: ServicesDep,
) -> Resource[ChatRead]:
    """Rename a chat, change its model, its toolkits (`toolkitIds`, toolkits you may use: else
    404 `toolkit_not_found`), or the library files and folders it answers from."""
    if body.toolkit_ids:
        await services.toolkits.require_usable(user=principal.user, toolkit_ids=body.toolkit_ids)
    updated = await chats.update_chat(session, chat=chat, data=body, team_ids=principal.team_ids)
    return chat_body(updated)


@router.delete("/{chat_id}", status_code=204)
async def delete_chat(chat: ChatDep, session: SessionDep, services: ServicesDep) -> Response:
    """Delete a chat, its messages and its attachments (their files too)."""
    await chats.delete(session, chat=chat)
    await session.commit()
    if services.chat.attachments is not None:
        await asyncio.to_thread(services.chat.attachments.forget_chat, chat.id)
    return Response(status_code=204)


@router.get("/{chat_id}/messages", response_model=collection_of("messages", MessageRead))
async def list_messages(
    chat: ChatDep,
    session: SessionDep,
    page: PageDep,
    branch: Literal["active", "all"] = "active",
) -> Collection[Resource[MessageRead]]:
    """The messages of the chat's active branch, oldest first (`branch=all`: every message).

    Editing a message or regenerating an answer makes a new branch; each message carries
    `parentId`, `siblingIds` (itself and its alternatives, oldest first) and `siblingIndex`
    (its place among them, from 0), so a page can show "2/3" and switch with `POST .../_switch`.
    """
    result = await branches.page_of(session, chat=chat, page=page, every_branch=branch == "all")
    params = {"q": page.q, "sort": page.sort, "branch": branch if branch == "all" else None}
    href = f"/api/chats/{chat.id}/messages"
    return collection("messages", href, result, branch_message_body, params)


@router.post("/{chat_id}/_switch", response_model=ChatResource)
async def switch_branch(
    chat: ChatDep, body: BranchSwitch, session: SessionDep
) -> Resource[ChatRead]:
    """Show another branch: the chat continues from the newest message below `messageId`.

    Pass a sibling from a message's `siblingIds` to flip between versions; the chat (with its
    new `activeLeafId`) is returned and `GET .../messages` then lists that branch.
    """
    return chat_body(await branches.switch(session, chat=chat, message_id=body.message_id))


@router.get(
    "/{chat_id}/_export",
    responses=JSON_OR_MARKDOWN,
)
async def export_chat(
    chat: ChatDep,
    session: SessionDep,
    export_format: Annotated[ExportFormat, Query(alias="format")] = "markdown",
) -> Response:
    """Download the chat's active branch as Markdown (`format=markdown`, the default) or as
    JSON with usage and cost (`format=json`), as an attachment named after the title."""
    messages = await chats.messages(session, chat=chat)
    name = chat_export.filename(chat, export_format)
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if export_format == "json":
        return JSONResponse(chat_export.to_json(chat, messages), headers=headers)
    text = chat_export.to_markdown(chat, messages)
    return Response(text, media_type="text/markdown; charset=utf-8", headers=headers)


@router.post("/{chat_id}/messages", **ANSWER_ROUTE)
async def send_message(
    chat_id: str,
    body: MessageCreate,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
) -> FramedStream | JSONResponse:
    """Send a message and get the answer, streamed as SSE with `stream: true`.

    `attachmentIds` names the chat's attachments the message carries (see `.../attachments`);
    an image for a model that cannot see is 422 `model_cannot_see_images`, with `models` that can.
    A provider failure before the first token is a JSON error. Once streaming, the answer is
    generated apart from this request: if the connection drops, re-attach with
    `GET .../messages/{messageId}/events` and `Last-Event-ID`.
    """
    options = options_of(body)
    run = await services.chat.send(
        caller=principal.caller,
        chat_id=chat_id,
        content=body.content,
        options=options,
        attachment_ids=tuple(body.attachment_ids),
    )
    return await _answer(run, wants_stream(body.stream, request), services)


@router.post("/{chat_id}/messages/{message_id}/_regenerate", **ANSWER_ROUTE)
async def regenerate(
    chat_id: str,
    message_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    body: RegenerateRequest | None = None,
) -> FramedStream | JSONResponse:
    """Answer the last user message again; `message_id` must be the active branch's last answer.

    The new answer is a sibling of the old one, which stays reachable with `_switch`."""
    body = body or RegenerateRequest()
    options = options_of(body)
    run = await services.chat.regenerate(
        caller=principal.caller, chat_id=chat_id, message_id=message_id, options=options
    )
    return await _answer(run, wants_stream(body.stream, request), services)


@router.post("/{chat_id}/messages/{message_id}/_edit", **ANSWER_ROUTE)
async def edit_message(
    chat_id: str,
    message_id: str,
    body: MessageCreate,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
) -> FramedStream | JSONResponse:
    """Edit one of your earlier messages and get a new answer, on a new branch.

    The edited copy becomes a sibling of `message_id` (same parent) and the chat switches to
    it; the old message and everything after it stay on their branch (see `_switch`). The body
    and the answer are those of `POST .../messages`: JSON, or SSE with `stream: true`.
    """
    options = options_of(body)
    run = await services.chat.edit(
        caller=principal.caller,
        chat_id=chat_id,
        message_id=message_id,
        content=body.content,
        options=options,
    )
    return await _answer(run, wants_stream(body.stream, request), services)


@router.get("/{chat_id}/messages/{message_id}", response_model=MessageResource)
async def get_message(chat: ChatDep, message_id: str, session: SessionDep) -> Resource[MessageRead]:
    """One message, with its status, usage, timing and alternatives (`siblingIds`)."""
    message = await chats.get_message(session, chat=chat, message_id=message_id)
    return message_body(message, await branches.sibling_ids(session, message=message))


@router.patch("/{chat_id}/messages/{message_id}", response_model=MessageResource)
async def update_message(
    chat: ChatDep, message_id: str, body: MessageUpdate, session: SessionDep
) -> Resource[MessageRead]:
    """Rate an answer, correct its text, or both; only answers (409 `not_an_answer`).

    Rate: `liked` true (good), false (bad) or null (take it back), with an optional `feedback`
    comment. Those who review feedback see the rating with the answer's first 500 characters
    (`GET /api/feedback`). Correct: `content` replaces the answer's text in place (1 to 200,000
    characters, not only spaces; 409 `still_streaming` while it is written). Nothing is billed;
    the answer is marked `edited` (`editedAt`), `originalContent` keeps what the model first
    wrote, and later turns send the model the corrected text."""
    message = await chats.get_message(session, chat=chat, message_id=message_id)
    given = body.model_fields_set
    if given & {"liked", "feedback"}:
        liked = body.liked if "liked" in given else message.liked
        feedback.rate(message, liked=liked, feedback=body.feedback)
    if body.content is not None:
        message = await answer_edits.correct(session, message=message, content=body.content)
    await session.commit()
    return message_body(message, await branches.sibling_ids(session, message=message))


@router.get(
    "/{chat_id}/messages/{message_id}/events",
    response_class=EventSourceResponse,
    responses=EVENT_STREAM,
)
async def message_events(
    chat_id: str,
    message_id: str,
    user: CurrentUser,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header(max_length=100)] = None,
) -> FramedStream:
    """Re-attach to an answer: events after `Last-Event-ID`, then live ones until `done`."""
    events = await services.chat.events(
        user_id=user.id, chat_id=chat_id, message_id=message_id, last_event_id=last_event_id
    )
    return event_stream(events, ping_seconds=services.settings.heartbeat_seconds)


@router.post("/{chat_id}/messages/{message_id}/_cancel", response_model=MessageResource)
async def cancel(
    chat_id: str, message_id: str, user: CurrentUser, services: ServicesDep
) -> Resource[MessageRead]:
    """Stop an answer; the text written so far is kept with status `cancelled`."""
    message = await services.chat.cancel(user_id=user.id, chat_id=chat_id, message_id=message_id)
    async with services.sessions() as session:
        return message_body(message, await branches.sibling_ids(session, message=message))


def options_of(body: MessageCreate | RegenerateRequest) -> TurnOptions:
    """The turn's choices a message body makes."""
    return TurnOptions(model=body.model, max_tokens=body.max_tokens, temperature=body.temperature)


def wants_stream(stream: bool, request: Request) -> bool:
    """Whether the client asked for SSE (`stream: true`, or an `Accept` of event streams)."""
    return stream or "text/event-stream" in request.headers.get("accept", "")


async def _answer(run: Run, stream: bool, services: ServicesDep) -> FramedStream | JSONResponse:
    if stream:
        return event_stream(
            run.follow_batches(None), ping_seconds=services.settings.heartbeat_seconds
        )
    return await answer_json(run, services)


async def answer_json(run: Run, services: ServicesDep) -> JSONResponse:
    """The answer of a run once it has finished, as the JSON of a message (201)."""
    await run.finished.wait()
    async with services.sessions() as session:
        message = await session.get(Message, run.message_id)
        if message is None:
            return error_response(SwitchboardError("The answer was deleted while it was written."))
        siblings = await branches.sibling_ids(session, message=message)
    return JSONResponse(message_body(message, siblings), status_code=201)


@router.post("/{chat_id}/tool-approvals/{call_id}", response_model=ToolDecision)
async def decide_tool_call(
    chat_id: str, call_id: str, body: ToolApproval, user: CurrentUser, services: ServicesDep
) -> ToolDecision:
    """Allow or refuse a tool call with side effects that an answer is waiting on
    (announced by an `approvalRequired` event); the answer then goes on."""
    await services.chat.decide(
        user_id=user.id, chat_id=chat_id, call_id=call_id, approve=body.approve
    )
    return ToolDecision(call_id=call_id, approve=body.approve)
