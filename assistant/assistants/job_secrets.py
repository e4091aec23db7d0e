"""Assistant secrets for jobs' HTTP requests (`api-call` headers that name a secret).

A job's request gets an assistant's secret only when the job's owner may edit that assistant
(those who may read its secrets) at run time, and only while no one else may edit the job: an
editor of a shared job could point the request, and the secret, anywhere.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.assistants import keyring, secrets, sharing
from assistant.assistants.sharing import Viewer
from core import teams
from core.database import write_transaction
from knowledge.errors import InvalidJob
from knowledge.models import Job


class JobSecrets:
    """Reveals assistant secrets into a job's request headers, by the rule above."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], data_dir: Path, configured_key: str
    ) -> None:
        self.sessions = sessions
        self.data_dir = data_dir
        self.configured_key = configured_key

    async def __call__(self, *, job: Job, assistant_id: str, name: str) -> str:
        """The secret's value.

        Raises:
            InvalidJob: the job is shared for others to edit.
            AssistantNotFound, AssistantReadOnly: the owner may not edit the assistant.
            SecretNotFound: the assistant has no secret of that name.
        """
        if job.visibility != "private" and job.permission == "edit":
            raise InvalidJob("A job others may edit cannot send assistant secrets.")
        ring = await asyncio.to_thread(keyring.load, self.data_dir, self.configured_key)
        async with write_transaction(self.sessions) as session:
            viewer = Viewer(
                job.owner_user_id, await teams.team_ids_of(session, user_id=job.owner_user_id)
            )
            assistant = await sharing.get_editable(
                session, viewer=viewer, assistant_id=assistant_id
            )
            published = await sharing.published_of(session, assistant)
            return await secrets.reveal(session, ring=ring, assistant_id=published.id, name=name)
