"""The actions knowledge runs itself: `index-files`, `library-sync` and `email`.

`index-files` queues its files for the indexing worker and waits until they are indexed or
failed, reporting the share settled as progress; `library-sync` mirrors a server folder (see
`knowledge.sync`); `email` sends a message through the SMTP server of the settings.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock, teams
from core.byte_counts import shown
from core.database import write_transaction
from core.models import User
from knowledge import library, mail, sync
from knowledge.errors import InvalidJob, SyncOverStorageQuota
from knowledge.index import TenantScope
from knowledge.job_actions import ActionKind, Step
from knowledge.mail import MailConfig
from knowledge.models import Job, LibraryFile
from knowledge.storage import FileStorage
from knowledge.vector_store import VectorStore
from knowledge.worker import IndexingWorker

WAIT_SECONDS = 0.5
MAX_WAIT_SECONDS = 6 * 3600
MAX_TEXT = 100_000


class IndexFiles:
    """Reindex files (`fileIds`) and/or the files of a folder (`folderId`) the owner may see."""

    admin_only = False

    def __init__(self, factory: async_sessionmaker[AsyncSession], worker: IndexingWorker) -> None:
        self.factory = factory
        self.worker = worker

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        file_ids = params.get("fileIds", [])
        folder_id = params.get("folderId")
        if not isinstance(file_ids, list) or not all(isinstance(i, str) for i in file_ids):
            raise InvalidJob("`fileIds` must be a list of file ids.")
        if folder_id is not None and not isinstance(folder_id, str):
            raise InvalidJob("`folderId` must be a folder id.")
        if not file_ids and not folder_id:
            raise InvalidJob("An index-files action needs `fileIds` or `folderId`.")
        return {"fileIds": file_ids[:1000], "folderId": folder_id}

    async def perform(self, job: Job, params: dict[str, Any], step: Step) -> dict[str, Any]:
        async with write_transaction(self.factory) as session:
            team_ids = await teams.team_ids_of(session, user_id=job.owner_user_id)
            scope = TenantScope(job.owner_user_id, team_ids)
            wanted = [LibraryFile.id.in_(params.get("fileIds") or [])]
            if params.get("folderId"):
                wanted.append(LibraryFile.folder_id == params["folderId"])
            rows = list(
                await session.scalars(
                    select(LibraryFile).where(library.visible_to(LibraryFile, scope), or_(*wanted))
                )
            )
            for row in rows:
                library.mark_pending(row)
        self.worker.wake()
        ids = [row.id for row in rows]
        step.log(f"Queued {len(ids)} file(s) for indexing.")
        deadline = clock.now().timestamp() + MAX_WAIT_SECONDS
        statuses: list[str] = []
        while clock.now().timestamp() < deadline:
            async with self.factory() as session:
                statuses = list(
                    await session.scalars(select(LibraryFile.status).where(LibraryFile.id.in_(ids)))
                )
            waiting = sum(s in {"pending", "indexing"} for s in statuses)
            await step.progress(1 - waiting / len(ids) if ids else 1.0)
            if not waiting:
                break
            await asyncio.sleep(WAIT_SECONDS)
        counts = {
            "files": len(ids),
            "indexed": statuses.count("indexed"),
            "failed": statuses.count("failed"),
        }
        step.log(f"Indexed {counts['indexed']}, failed {counts['failed']}.")
        return counts


class LibrarySync:
    """Mirror `path`, a folder under the server's sync root, into the library folder
    `folderId` by content hash (admins only). The files count toward a storage quota when the
    app sets `quota` (`knowledge.sync`): files that do not fit are left out, named in the log,
    and the step fails saying whose storage is full and what to do."""

    admin_only = True
    quota: sync.Quota | None = None

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        store: VectorStore,
        storage: FileStorage,
        worker: IndexingWorker,
        root: Path,
        max_file_bytes: int,
    ) -> None:
        self.factory = factory
        self.store = store
        self.storage = storage
        self.worker = worker
        self.root = root
        self.max_file_bytes = max_file_bytes

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        path, folder_id = params.get("path"), params.get("folderId")
        if not isinstance(path, str) or not path or len(path) > 1000:
            raise InvalidJob("A library-sync action needs `path`, a folder under the sync root.")
        if not isinstance(folder_id, str) or not folder_id:
            raise InvalidJob("A library-sync action needs `folderId`, the library folder to fill.")
        return {"path": path, "folderId": folder_id}

    async def perform(self, job: Job, params: dict[str, Any], step: Step) -> dict[str, Any]:
        step.log(f"Mirroring {params['path']!r} into folder {params['folderId']}.")
        result = await sync.sync_folder(
            self.factory,
            store=self.store,
            storage=self.storage,
            root=self.root,
            path=str(params["path"]),
            folder_id=str(params["folderId"]),
            max_bytes=self.max_file_bytes,
            created_by=job.owner_user_id,
            quota=self.quota,
        )
        self.worker.wake()
        counts = result.counts
        step.log(", ".join(f"{name} {count}" for name, count in counts.items()))
        if result.over_quota:
            step.record["result"] = counts  # what was done stays in the run's counts
            raise await _over_quota(self.factory, result, step)
        return counts


async def _over_quota(
    factory: async_sessionmaker[AsyncSession], result: sync.SyncResult, step: Step
) -> SyncOverStorageQuota:
    """The error of a sync that left files out, each named in the step's log."""
    for found in result.over_quota:
        step.log(f"Not added (storage quota): {found.relative} ({shown(found.size)})")
    async with factory() as session:
        user = await session.get(User, result.charged_to) if result.charged_to else None
    name = (user.display_name or user.username) if user is not None else "the folder's owner"
    left = len(result.over_quota)
    return SyncOverStorageQuota(
        f"{left} file(s) were not added: they would take the storage of {name} over its limit "
        f"of {shown(result.limit_bytes or 0)} ({shown(result.used_bytes)} used). The files that "
        f"fit were mirrored; the others are named in the log. Delete files from {name}'s library "
        "or chats, or ask an admin to raise their storage limit, then run the job again.",
        files=[found.relative for found in result.over_quota[:100]],
        userId=result.charged_to,
        used=result.used_bytes,
        limit=result.limit_bytes,
    )


class Email:
    """Send `subject` and `body` to `to` (1 to 20 addresses) through the configured server."""

    admin_only = False

    def __init__(self, config: MailConfig) -> None:
        self.config = config

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        subject, body = params.get("subject", ""), params.get("body", "")
        if not isinstance(subject, str) or not isinstance(body, str) or len(body) > MAX_TEXT:
            raise InvalidJob("`subject` and `body` must be text (the body up to 100,000).")
        if not subject.strip():
            raise InvalidJob("An email action needs a `subject`.")
        to = mail.check_recipients(params.get("to"))
        return {"to": to, "subject": mail.subject_line(subject), "body": body}

    async def perform(self, job: Job, params: dict[str, Any], step: Step) -> dict[str, Any]:
        to = list(params["to"])
        await mail.send(self.config, to=to, subject=params["subject"], body=params["body"])
        step.log(f"Sent to {len(to)} recipient(s).")
        return {"sent": len(to)}


def builtin_kinds(
    factory: async_sessionmaker[AsyncSession],
    *,
    store: VectorStore,
    storage: FileStorage,
    worker: IndexingWorker,
    sync_root: Path,
    max_file_bytes: int,
    mail_config: MailConfig,
) -> dict[str, ActionKind]:
    """The action kinds knowledge runs, by type."""
    return {
        "index-files": IndexFiles(factory, worker),
        "library-sync": LibrarySync(
            factory,
            store=store,
            storage=storage,
            worker=worker,
            root=sync_root,
            max_file_bytes=max_file_bytes,
        ),
        "email": Email(mail_config),
    }
