"""Secrets for tool calls: a toolkit header naming a secret gets the value of the chat's assistant.

A chat's tool call runs bound to the assistant the chat talks to (`bound_to`); only then, and only
while the user may still use that assistant, does a secret named in a toolkit header resolve, at
call time, straight into that call's headers. Nothing else (discovery, another chat, the model)
ever sees a value. A tool offered only through a skill resolves only that skill's secret names
(`limited_to`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant import keyring, secrets, sharing
from assistant.errors import AssistantNotFound, SecretNotFound
from assistant.sharing import Viewer
from core import teams
from core.database import write_transaction

_bound: ContextVar[str | None] = ContextVar("tool_call_assistant", default=None)
_allowed: ContextVar[frozenset[str] | None] = ContextVar("tool_call_secret_names", default=None)


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


class AssistantSecrets:
    """The toolkits' secret source, backed by the assistant keyring."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], data_dir: Path, configured_key: str
    ) -> None:
        self.sessions = sessions
        self.data_dir = data_dir
        self.configured_key = configured_key

    async def lookup(self, *, user_id: str, name: str) -> str | None:
        """The bound assistant's secret `name`, if the user may use that assistant.

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
                published = await sharing.published_of(session, assistant)
                return await secrets.reveal(
                    session, ring=ring, assistant_id=published.id, name=name
                )
            except (AssistantNotFound, SecretNotFound):
                return None
