"""Chats, messages and streamed answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from api.deps import CurrentUser, PageDep, PrincipalDep, ServicesDep, SessionDep
from api.errors import error_response
from api.hal import collection, resource
from api.sse import event_stream
from assistant import chats
from assistant.engine import TurnOptions
from assistant.models import Chat, Message
from assistant.runs import Run
from assistant.schemas import (
    ChatCreate,
    ChatRead,
    ChatUpdate,
    MessageCreate,
    MessageRead,
    RegenerateRequest,
    ToolApproval,
)
from core.errors import SwitchboardError
from knowledge import library
from knowledge.index import TenantScope

router = APIRouter(prefix="/api/chats", tags=["Chats"])
SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"description": "The answer, when not streaming."},
    200: {"description": "With `stream: true`: SSE events start, delta*, usage, done | error."},
}


def chat_body(chat: Chat) -> dict[str, Any]:
    """A chat as a HAL resource."""
    href = f"/api/chats/{chat.id}"
    return resource(ChatRead.model_validate(chat), href, messages=href + "/messages")


def message_body(message: Message) -> dict[str, Any]:
    """A message as a HAL resource."""
    href = f"/api/chats/{message.chat_id}/messages/{message.id}"
    return resource(MessageRead.model_validate(message), href, events=href + "/events")


@router.get("")
async def list_chats(user: CurrentUser, session: SessionDep, page: PageDep) -> dict[str, Any]:
    """Your chats, most recently active first; `q` searches titles."""
    result = await chats.list_page(session, user_id=user.id, page=page)
    return collection("chats", "/api/chats", result, chat_body, {"q": page.q, "sort": page.sort})


@router.post("", status_code=201)
async def create_chat(
    body: ChatCreate, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    """Start a chat (optionally with a title, a model, and an assistant you may use).

    With library `fileIds`/`folderIds`, answers are grounded in their passages and cited in a
    `citations` event before `done`."""
    chat = await chats.create(
        session, user_id=principal.user.id, data=body, team_ids=principal.team_ids
    )
    await _attach_knowledge(session, principal, chat, body.file_ids, body.folder_ids)
    return chat_body(chat)


@router.get("/{chat_id}")
async def get_chat(chat_id: str, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """One of your chats."""
    return chat_body(await chats.get_owned(session, user_id=user.id, chat_id=chat_id))


@router.patch("/{chat_id}")
async def update_chat(
    chat_id: str, body: ChatUpdate, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    """Rename a chat, change its model, or the library files and folders it answers from."""
    chat = await chats.get_owned(session, user_id=principal.user.id, chat_id=chat_id)
    await _attach_knowledge(session, principal, chat, body.file_ids, body.folder_ids)
    return chat_body(await chats.update_chat(session, chat=chat, data=body))


async def _attach_knowledge(
    session: SessionDep,
    principal: PrincipalDep,
    chat: Chat,
    file_ids: list[str] | None,
    folder_ids: list[str] | None,
) -> None:
    """Give a chat library files and folders to answer from; each must be visible (else 404)."""
    scope = TenantScope(principal.user.id, principal.team_ids)
    await library.visible_ids(
        session, scope=scope, file_ids=file_ids or (), folder_ids=folder_ids or ()
    )
    if file_ids is not None:
        chat.knowledge_file_ids = list(dict.fromkeys(file_ids))
    if folder_ids is not None:
        chat.knowledge_folder_ids = list(dict.fromkeys(folder_ids))
    await session.flush()


@router.delete("/{chat_id}", status_code=204)
async def delete_chat(chat_id: str, user: CurrentUser, session: SessionDep) -> Response:
    """Delete a chat and its messages."""
    chat = await chats.get_owned(session, user_id=user.id, chat_id=chat_id)
    await chats.delete(session, chat=chat)
    return Response(status_code=204)


@router.get("/{chat_id}/messages")
async def list_messages(
    chat_id: str, user: CurrentUser, session: SessionDep, page: PageDep
) -> dict[str, Any]:
    """A chat's messages, oldest first."""
    chat = await chats.get_owned(session, user_id=user.id, chat_id=chat_id)
    result = await chats.messages_page(session, chat=chat, page=page)
    return collection("messages", f"/api/chats/{chat_id}/messages", result, message_body)


@router.post("/{chat_id}/messages", status_code=201, responses=SSE_RESPONSES)
async def send_message(
    chat_id: str,
    body: MessageCreate,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
) -> Any:
    """Send a message and get the answer, streamed as SSE with `stream: true`.

    A provider failure before the first token is a JSON error. Once streaming, the answer is
    generated apart from this request: if the connection drops, re-attach with
    `GET .../messages/{messageId}/events` and `Last-Event-ID`.
    """
    options = TurnOptions(body.model, body.max_tokens, body.temperature)
    run = await services.chat.send(
        caller=principal.caller, chat_id=chat_id, content=body.content, options=options
    )
    return await _answer(run, _wants_stream(body.stream, request), services)


@router.post(
    "/{chat_id}/messages/{message_id}/_regenerate", status_code=201, responses=SSE_RESPONSES
)
async def regenerate(
    chat_id: str,
    message_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    body: RegenerateRequest | None = None,
) -> Any:
    """Answer the last user message again, replacing the latest answer `message_id`."""
    body = body or RegenerateRequest()
    options = TurnOptions(body.model, body.max_tokens, body.temperature)
    run = await services.chat.regenerate(
        caller=principal.caller, chat_id=chat_id, message_id=message_id, options=options
    )
    return await _answer(run, _wants_stream(body.stream, request), services)


@router.get("/{chat_id}/messages/{message_id}")
async def get_message(
    chat_id: str, message_id: str, user: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    """One message, with its status, usage and timing."""
    chat = await chats.get_owned(session, user_id=user.id, chat_id=chat_id)
    return message_body(await chats.get_message(session, chat=chat, message_id=message_id))


@router.get("/{chat_id}/messages/{message_id}/events", response_class=EventSourceResponse)
async def message_events(
    chat_id: str,
    message_id: str,
    user: CurrentUser,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header(max_length=100)] = None,
) -> EventSourceResponse:
    """Re-attach to an answer: events after `Last-Event-ID`, then live ones until `done`."""
    events = await services.chat.events(
        user_id=user.id, chat_id=chat_id, message_id=message_id, last_event_id=last_event_id
    )
    return event_stream(events, ping_seconds=services.settings.heartbeat_seconds)


@router.post("/{chat_id}/messages/{message_id}/_cancel")
async def cancel(
    chat_id: str, message_id: str, user: CurrentUser, services: ServicesDep
) -> dict[str, Any]:
    """Stop an answer; the text written so far is kept with status `cancelled`."""
    message = await services.chat.cancel(user_id=user.id, chat_id=chat_id, message_id=message_id)
    return message_body(message)


def _wants_stream(stream: bool, request: Request) -> bool:
    return stream or "text/event-stream" in request.headers.get("accept", "")


async def _answer(run: Run, stream: bool, services: ServicesDep) -> Any:
    if stream:
        return event_stream(run.follow(None), ping_seconds=services.settings.heartbeat_seconds)
    await run.finished.wait()
    async with services.sessions() as session:
        message = await session.get(Message, run.message_id)
    if message is None:
        return error_response(SwitchboardError("The answer was deleted while it was written."))
    return JSONResponse(message_body(message), status_code=201)


@router.post("/{chat_id}/tool-approvals/{call_id}")
async def decide_tool_call(
    chat_id: str, call_id: str, body: ToolApproval, user: CurrentUser, services: ServicesDep
) -> dict[str, Any]:
    """Allow or refuse a tool call with side effects that an answer is waiting on
    (announced by an `approvalRequired` event); the answer then goes on."""
    await services.chat.decide(
        user_id=user.id, chat_id=chat_id, call_id=call_id, approve=body.approve
    )
    return {"callId": call_id, "approve": body.approve}
