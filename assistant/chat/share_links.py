"""Share links: a read-only copy of a chat as it was when shared, open to anyone with the link.

The copy is taken when the link is made, so later messages stay private. The link's token is
random (`secrets.token_urlsafe`), shown once, and stored only as its SHA-256; revoking a link
makes it answer "not found" from then on.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.chat import chats
from assistant.chat import export as chat_export
from assistant.errors import ShareNotFound
from assistant.models import Chat, ChatShare
from core import clock

TOKEN_BYTES = 24
PREFIX_CHARS = 8


def token_hash(token: str) -> str:
    """How a share token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create(session: AsyncSession, *, chat: Chat) -> tuple[ChatShare, str]:
    """Copy a chat's active branch into a new share; returns it and its token (shown once)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    messages = await chats.messages(session, chat=chat)
    share = ChatShare(
        chat_id=chat.id,
        user_id=chat.user_id,
        token_hash=token_hash(token),
        token_prefix=token[:PREFIX_CHARS],
        title=chat.title,
        snapshot=chat_export.snapshot(chat, messages),
    )
    session.add(share)
    await session.flush()
    return share, token


async def list_for_chat(session: AsyncSession, *, chat: Chat) -> Sequence[ChatShare]:
    """A chat's share links, newest first, revoked ones included."""
    rows = await session.scalars(
        select(ChatShare)
        .where(ChatShare.chat_id == chat.id)
        .order_by(ChatShare.created_at.desc(), ChatShare.id.desc())
    )
    return list(rows)


async def get_for_chat(session: AsyncSession, *, chat: Chat, share_id: str) -> ChatShare:
    """A share link of this chat.

    Raises:
        ShareNotFound: the chat has no such share.
    """
    share = await session.get(ChatShare, share_id)
    if share is None or share.chat_id != chat.id:
        raise ShareNotFound(share_id=share_id)
    return share


async def revoke(session: AsyncSession, *, share: ChatShare) -> ChatShare:
    """Turn a link off for good; it is kept, marked revoked."""
    if share.revoked_at is None:
        share.revoked_at = clock.now()
        await session.flush()
    return share


async def open_shared(session: AsyncSession, *, token: str) -> ChatShare:
    """The share a link's token opens.

    Raises:
        ShareNotFound: no share has that token, or it was revoked.
    """
    share = await session.scalar(select(ChatShare).where(ChatShare.token_hash == token_hash(token)))
    if share is None or share.revoked_at is not None:
        raise ShareNotFound()
    return share
