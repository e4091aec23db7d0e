"""Correcting an answer: the chat's owner rewrites what the model said, in place.

Unlike editing one's own message (a new branch with a new answer), a correction asks the model
nothing and bills nothing: the answer keeps its place, its usage and the turns after it, and the
corrected text is what later turns send the model as history. What the model first wrote is kept
(`original_content`, set by the first correction only) and `edited_at` marks the answer.
"""

from __future__ import annotations

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.chat import lock_order
from assistant.errors import NotAnAnswer, StillStreaming
from assistant.models import Chat, Message
from assistant.schemas import MessageStatus
from core import clock


async def correct(session: AsyncSession, *, message: Message, content: str) -> Message:
    """Replace an answer's text with the owner's correction (the first version is kept).

    Raises:
        NotAnAnswer: the message is the user's own (edit it with `_edit`, a new branch).
        StillStreaming: the answer is still being written; wait for it or cancel it first.
    """
    if message.role != "assistant":
        raise NotAnAnswer(
            "Only an answer can be corrected; edit your own message with _edit instead.",
            message_id=message.id,
        )
    chat = await session.get(Chat, message.chat_id)  # loaded with it: no query
    if chat is not None:  # its words are made again: the owner's lock before the message's row
        await lock_order.lock(session, users=[chat.user_id])
    if not message.content:  # an empty answer becomes a turn: the counts below it are off
        # (first: the chat's messages' rows before its starts, which the correction locks)
        await session.execute(
            update(Message)
            .where(Message.chat_id == message.chat_id)
            .values(history_turns=None)
            .execution_options(synchronize_session=False)
        )
    # One conditional statement: an answer that started streaming meanwhile is not overwritten.
    corrected = await session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status != MessageStatus.STREAMING)
        .values(
            original_content=func.coalesce(Message.original_content, Message.content),
            content=content,
            edited_at=clock.now(),
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(corrected, "rowcount", 0):
        raise StillStreaming()
    await session.refresh(message)
    return message
