"""Jobs' actions wired with what they need from packages knowledge may not import, and the
checks on what a saved job points at (files, folders, assistants) made as the person saving it."""

from __future__ import annotations

from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Principal
from api.routes.library import scope_of
from api.services import Services
from assistant import storage_quota
from assistant.assistants import sharing
from assistant.assistants.job_secrets import JobSecrets
from assistant.chat.scheduled_prompts import AssistantPrompt
from core.settings import Settings
from knowledge import library
from knowledge.job_kinds import LibrarySync
from knowledge.mail import MailConfig
from knowledge.models import Job
from toolkits.job_requests import ApiCall


def mail_config(settings: Settings) -> MailConfig:
    """The SMTP server jobs send through (SWITCHBOARD_SMTP_*)."""
    return MailConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value(),
        sender=settings.smtp_from,
        starttls=settings.smtp_starttls,
        timeout_seconds=settings.smtp_timeout_seconds,
    )


def add_action_kinds(services: Services) -> None:
    """Let the scheduler run `api-call` (the toolkits' SSRF guard, timeouts and caps) and
    `assistant-prompt` (the chat engine) steps, and count library-sync's files toward the
    storage quota (`assistant.storage_quota`)."""
    settings = services.settings
    connector = services.toolkits.connector
    secrets = JobSecrets(
        services.sessions, settings.data_dir, settings.secrets_key.get_secret_value()
    )
    kinds = services.knowledge.scheduler.kinds
    kinds["api-call"] = ApiCall(connector.policy, connector.limits, secrets)
    kinds["assistant-prompt"] = AssistantPrompt(
        services.sessions, services.chat, mail_config(settings)
    )
    library_sync = kinds["library-sync"]
    if isinstance(library_sync, LibrarySync):  # its files count toward the storage quota
        library_sync.quota = partial(
            storage_quota.allowance, default_limit=settings.max_storage_bytes_per_user
        )


async def check_targets(session: AsyncSession, principal: Principal, job: Job) -> None:
    """Refuse actions naming files, folders or assistants the person saving may not see (an
    `api-call` with secrets needs an assistant they may edit).

    Raises:
        LibraryFileNotFound, FolderNotFound: knowledge they may not see.
        AssistantNotFound, AssistantReadOnly: an assistant they may not use (or edit).
    """
    scope = scope_of(principal)
    viewer = sharing.Viewer(principal.user.id, principal.team_ids)
    for action in job.actions:
        params = action["params"]
        if action["type"] == "index-files":
            folder_ids = [params["folderId"]] if params.get("folderId") else []
            await library.visible_ids(
                session, scope=scope, file_ids=params.get("fileIds") or (), folder_ids=folder_ids
            )
        elif action["type"] == "assistant-prompt":
            await sharing.get_usable(session, viewer=viewer, assistant_id=params["assistantId"])
        elif action["type"] == "api-call" and params.get("assistantId"):
            await sharing.get_editable(session, viewer=viewer, assistant_id=params["assistantId"])
