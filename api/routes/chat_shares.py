"""Share links to chats: made, listed and revoked by the chat's owner; opened by anyone."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request, Response

from api import markdown, public_url
from api.deps import ChatDep, ServicesDep, SessionDep
from api.hal import Collection, Resource, api_router, collection_of, resource, whole
from api.responses import SharedChat, ShareIssued
from assistant.chat import share_links as chat_shares
from assistant.models import ChatShare
from assistant.schemas import ChatShareRead

router = api_router(tags=["Chats"])
Token = Annotated[str, Path(min_length=1, max_length=100)]


def share_body(share: ChatShare) -> Resource[ChatShareRead]:
    """A share link as a HAL resource (without its token)."""
    return resource(
        ChatShareRead.model_validate(share),
        f"/api/chats/{share.chat_id}/shares/{share.id}",
        chat=f"/api/chats/{share.chat_id}",
    )


@router.post("/api/chats/{chat_id}/shares", status_code=201, response_model=ShareIssued)
async def create_share(
    chat: ChatDep, request: Request, session: SessionDep
) -> Resource[ChatShareRead]:
    """Share a read-only copy of the chat's active branch as it is now.

    Messages sent later are not shown. The answer carries the link's `token` and `url` (the web
    page) and `apiUrl` (`GET /api/shared/{token}`, no login needed): they are shown only this
    once. Anyone with the link can read the copy until you revoke it.
    """
    share, token = await chat_shares.create(session, chat=chat)
    base = public_url.request_url(request.scope, request.app.state.services.settings)
    body = share_body(share)  # ShareIssued: the resource, then the token and its addresses
    body |= {
        "token": token,
        "url": f"{base}/#/shared/{token}",
        "apiUrl": f"{base}/api/shared/{token}",
    }
    return body


@router.get("/api/chats/{chat_id}/shares", response_model=collection_of("shares", ChatShareRead))
async def list_shares(chat: ChatDep, session: SessionDep) -> Collection[Resource[ChatShareRead]]:
    """The chat's share links, newest first, revoked ones with `revokedAt` (tokens not shown)."""
    shares = await chat_shares.list_for_chat(session, chat=chat)
    return whole("shares", f"/api/chats/{chat.id}/shares", (share_body(s) for s in shares))


@router.delete("/api/chats/{chat_id}/shares/{share_id}", status_code=204)
async def revoke_share(chat: ChatDep, share_id: str, session: SessionDep) -> Response:
    """Revoke a share link: from now on it answers 404."""
    share = await chat_shares.get_for_chat(session, chat=chat, share_id=share_id)
    await chat_shares.revoke(session, share=share)
    return Response(status_code=204)


@router.get("/api/shared/{token}", response_model=SharedChat, response_model_exclude_unset=True)
async def open_shared(token: Token, session: SessionDep, services: ServicesDep) -> SharedChat:
    """A shared chat, read-only, for anyone with the link (no login): its title and the
    messages as they were when it was shared, each with `contentHtml` (its Markdown rendered
    and sanitised on the server, what the page shows). A revoked or unknown link is 404."""
    share = await chat_shares.open_shared(session, token=token)
    snapshot = share.snapshot.get("messages", [])
    texts = [str(message.get("content") or "") for message in snapshot]
    html = await markdown.render_all(texts, markdown.limits_of(services.settings))
    messages = [
        {**message, "contentHtml": content_html}
        for message, content_html in zip(snapshot, html, strict=True)
    ]
    return SharedChat.model_validate(
        {
            **share.snapshot,
            "messages": messages,
            "sharedAt": share.created_at.isoformat(),
            "_links": {"self": {"href": f"/api/shared/{token}"}},
        }
    )
