"""Secrets for tool calls: a toolkit header naming a secret gets the value of the chat's assistant.

A chat's tool call runs bound to the assistant the chat talks to (`bound_to`); only then, only
while the user may still use that assistant, and only for a toolkit the assistant carries (one
its editors chose: `carried`), does a secret named in a toolkit header resolve, at call time,
straight into that call's headers. A toolkit the user picked (a chat's `toolkitIds`, their own
toolkit tested with `assistantId`) never gets one, nor does one whose owner (who may change its
URL and headers) may not edit the assistant, unless that owner is an admin. Nothing else
(discovery, another chat, the model) ever sees a value. A toolkit the assistant offers only
through skills resolves only those skills' secret names, and a tool offered only through a skill
in use only that skill's (`limited_to`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.assistants import keyring, secrets, sharing, skills
from assistant.assistants.sharing import Viewer
from assistant.errors import AssistantNotFound, SecretNotFound, ToolkitNotOnAssistant
from assistant.models import Assistant
from core import teams
from core.database import write_transaction
from core.models import User
from toolkits.models import Toolkit

_bound: ContextVar[str | None] = ContextVar("tool_call_assistant", default=None)
_allowed: ContextVar[frozenset[str] | None] = ContextVar("tool_call_secret_names", default=None)

# A carried toolkit's secret names: None resolves any name, a set only those.
SecretNames = frozenset[str] | None


@contextmanager
def bound_to(assistant_id: str | None) -> Iterator[None]:
    """Run tool calls inside the block on behalf of this assistant (None: no assistant)."""
    token = _bound.set(assistant_id)
    try:
        yield
    finally:
        _bound.reset(token)


@contextmanager
def limited_to(names: Iterable[str] | None) -> Iterator[None]:
    """Let tool calls inside the block resolve only these secret names (None: any name)."""
    token = _allowed.set(frozenset(names) if names is not None else None)
    try:
        yield
    finally:
        _allowed.reset(token)


async def carried(
    session: AsyncSession, *, assistant: Assistant, viewer: Viewer
) -> Mapping[str, SecretNames]:
    """The toolkits an assistant carries, each with the secret names it may resolve.

    Its published toolkits resolve any name; a toolkit only its skills offer, those skills'
    `secretNames`; its draft's toolkits count too for a viewer who may edit it (who could
    publish them). Toolkits and skills are set only by those who may edit the assistant.
    """
    published = await sharing.published_of(session, assistant)
    found: dict[str, SecretNames] = {}
    for skill in await skills.list_all(session, assistant_id=published.id):
        for toolkit_id in skill.toolkit_ids or ():
            found[toolkit_id] = (found.get(toolkit_id) or frozenset()) | set(skill.secret_names)
    own = list(published.toolkit_ids or ())
    if sharing.access_of(published, viewer) == "edit":
        draft = await session.scalar(select(Assistant).where(Assistant.editing_id == published.id))
        if draft is not None:
            own += draft.toolkit_ids or []
    found.update(dict.fromkeys(own))
    return found


async def require_carrier(
    session: AsyncSession, *, viewer: Viewer, assistant_id: str, toolkit_id: str
) -> Assistant:
    """An assistant whose secrets the viewer may bind to a toolkit outside a chat (to refresh,
    test or connect it): one they may edit, that carries the toolkit.

    Raises:
        AssistantNotFound: the viewer may not use the assistant.
        AssistantReadOnly: they may use it but not edit it.
        ToolkitNotOnAssistant: the assistant does not carry the toolkit.
    """
    assistant = await sharing.get_editable(session, viewer=viewer, assistant_id=assistant_id)
    if toolkit_id not in await carried(session, assistant=assistant, viewer=viewer):
        raise ToolkitNotOnAssistant(assistant_id=assistant_id, toolkit_id=toolkit_id)
    return assistant


async def _steered_by_editor(
    session: AsyncSession, *, toolkit: Toolkit, assistant: Assistant
) -> bool:
    """Whether those who may change where a toolkit connects and what it sends (its owner and
    admins) are all trusted with the assistant's secrets: its owner is an admin or may edit it."""
    owner = await session.get(User, toolkit.owner_id)
    if owner is None:
        return False
    if owner.is_admin:
        return True
    viewer = Viewer(owner.id, await teams.team_ids_of(session, user_id=owner.id))
    return sharing.access_of(assistant, viewer) == "edit"


class AssistantSecrets:
    """The toolkits' secret source, backed by the assistant keyring."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], data_dir: Path, configured_key: str
    ) -> None:
        self.sessions = sessions
        self.data_dir = data_dir
        self.configured_key = configured_key

    async def lookup(self, *, user_id: str, toolkit: Toolkit, name: str) -> str | None:
        """The bound assistant's secret `name` for a toolkit it carries whose owner may edit it
        (or is an admin), if the user may use that assistant; None otherwise.

        Raises:
            SecretUnreadable: the stored value cannot be decrypted.
        """
        assistant_id = _bound.get()
        allowed = _allowed.get()
        if assistant_id is None or (allowed is not None and name not in allowed):
            return None
        ring = await asyncio.to_thread(keyring.load, self.data_dir, self.configured_key)
        async with write_transaction(self.sessions) as session:
            viewer = Viewer(user_id, await teams.team_ids_of(session, user_id=user_id))
            try:
                assistant = await sharing.get_usable(
                    session, viewer=viewer, assistant_id=assistant_id
                )
                toolkits = await carried(session, assistant=assistant, viewer=viewer)
                if toolkit.id not in toolkits:
                    return None
                names = toolkits[toolkit.id]
                published = await sharing.published_of(session, assistant)
                if (names is not None and name not in names) or not await _steered_by_editor(
                    session, toolkit=toolkit, assistant=published
                ):
                    return None
                return await secrets.reveal(
                    session, ring=ring, assistant_id=published.id, name=name
                )
            except (AssistantNotFound, SecretNotFound):
                return None
