"""Drafts, as Informer has them: a copy that refers back to the published assistant.

`open_draft` makes (or returns) the one draft of an assistant; the draft is changed with the same
update as any assistant and can be tried in chat; `commit` copies it onto the published assistant
in one transaction and removes it; deleting a draft discards it. Skills, secrets and memories
belong to the published assistant throughout.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.assistants import sharing
from assistant.assistants.assistants import CONTENT_FIELDS
from assistant.assistants.sharing import Viewer
from assistant.chat import lock_order
from assistant.errors import NotADraft
from assistant.models import Assistant, Chat


async def open_draft(
    session: AsyncSession, *, viewer: Viewer, assistant: Assistant
) -> tuple[Assistant, bool]:
    """The assistant's draft, made from it if there is none; True when it was just made.

    Raises:
        NotADraft: `assistant` is itself a draft (open drafts from the published one).
    """
    if assistant.editing_id is not None:
        raise NotADraft("That is a draft already; edit it directly.", assistant_id=assistant.id)
    existing = await session.scalar(select(Assistant).where(Assistant.editing_id == assistant.id))
    if existing is not None:
        return existing, False
    values = {name: getattr(assistant, name) for name in CONTENT_FIELDS}
    draft = Assistant(owner_id=assistant.owner_id, editing_id=assistant.id, **values)
    session.add(draft)
    await session.flush()
    return draft, True


async def commit(session: AsyncSession, *, draft: Assistant) -> Assistant:
    """Publish a draft onto its assistant and remove the draft; chats on the draft move over.

    Raises:
        NotADraft: `draft` is a published assistant.
    """
    if draft.editing_id is None:
        raise NotADraft(assistant_id=draft.id)
    moved = select(Chat.id).where(Chat.assistant_id == draft.id)
    await lock_order.lock(session, chats=moved)  # their rows first, in one order
    published = await sharing.published_of(session, draft)
    for name in CONTENT_FIELDS:
        setattr(published, name, getattr(draft, name))
    await session.execute(
        update(Chat).where(Chat.assistant_id == draft.id).values(assistant_id=published.id)
    )
    await session.delete(draft)
    await session.flush()
    return published


async def draft_of(session: AsyncSession, *, published: Assistant) -> Assistant:
    """The open draft of a published assistant.

    Raises:
        NotADraft: the assistant has no open draft.
    """
    draft = await session.scalar(select(Assistant).where(Assistant.editing_id == published.id))
    if draft is None:
        raise NotADraft("This assistant has no open draft.", assistant_id=published.id)
    return draft
