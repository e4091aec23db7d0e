"""What the page offers under an answer besides copy, rating, editing and regenerating: branch
a chat off at an answer, and continue an answer where it stopped."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from api.deps import ChatDep, PrincipalDep, ServicesDep, SessionDep
from api.hal import Resource, api_router
from api.responses import ChatResource
from api.routes.chats import ANSWER_ROUTE, answer_json, chat_body, options_of, wants_stream
from api.sse import FramedStream, event_stream
from assistant.chat import continuation, forks
from assistant.schemas import ChatRead, RegenerateRequest

router = api_router(prefix="/api/chats", tags=["Chats"])


@router.post("/{chat_id}/messages/{message_id}/_fork", status_code=201, response_model=ChatResource)
async def fork_chat(
    chat: ChatDep, message_id: str, session: SessionDep, services: ServicesDep
) -> Resource[ChatRead]:
    """Branch off: a new chat of yours holding this chat's branch from its first message down
    to the answer `message_id`, titled "… (branch)".

    The copy has the same model, assistant, toolkits, knowledge, folder and tags; its messages
    keep their text, status and usage (nothing is billed again; ratings stay with the
    original), and the attachments they carried are copied with them. The original is
    unchanged. Only an answer can be branched off at (409 `not_an_answer`), not while it is
    still being written (409 `still_streaming`), nor when the copied attachments would take
    your stored files over your storage limit (413 `storage_quota_exceeded`)."""
    copy = await forks.fork(
        session,
        chat=chat,
        message_id=message_id,
        storage=services.chat.attachments,
        quota=services.settings.max_storage_bytes_per_user,
    )
    await session.commit()
    return chat_body(copy)


@router.post("/{chat_id}/messages/{message_id}/_continue", **ANSWER_ROUTE)
async def continue_answer(
    chat_id: str,
    message_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    body: RegenerateRequest | None = None,
) -> FramedStream | JSONResponse:
    """Continue the active branch's last answer where it stopped (cancelled, cut by its token
    limit, or a broken stream); anything else is 409 `nothing_to_continue`.

    The model that wrote it is sent the history and the answer so far, and its new text is
    appended to the same message, saved as it streams; the call is billed like any turn
    (source `continue`) and the message's usage becomes the sum of its calls. With
    `stream: true` the events are those of `POST .../messages`, but the deltas carry only the
    new text and their ids go on from the saved text's length (`Last-Event-ID` re-attaches as
    usual); without it, the whole answer comes back as JSON."""
    body = body or RegenerateRequest()
    continuing = await continuation.continue_answer(
        services.chat,
        caller=principal.caller,
        chat_id=chat_id,
        message_id=message_id,
        options=options_of(body),
    )
    if wants_stream(body.stream, request):
        heartbeat = services.settings.heartbeat_seconds
        return event_stream(continuing.events(), ping_seconds=heartbeat)
    return await answer_json(continuing.run, services)
