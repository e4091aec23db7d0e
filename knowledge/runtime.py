"""The knowledge objects one process holds: vector store, file storage, indexing worker, jobs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.database import run_read, thread_reader
from knowledge import library
from knowledge.documents import ParseLimits
from knowledge.embedding_worker import shutdown_embedding_workers
from knowledge.errors import VectorStoreUnavailable
from knowledge.index import LiveVersions
from knowledge.intake import UploadLimits
from knowledge.mail import MailConfig
from knowledge.parsing import shutdown_parsing_workers
from knowledge.scheduler import JobScheduler, SchedulerConfig
from knowledge.storage import FileStorage
from knowledge.vector_store import EmbedderFactory, VectorStore, VectorStoreConfig
from knowledge.worker import IndexingWorker


@dataclass(frozen=True, kw_only=True)
class KnowledgeConfig:
    """The plain settings knowledge needs."""

    vectors: VectorStoreConfig
    parse_limits: ParseLimits
    upload_limits: UploadLimits
    sync_root: Path
    job_poll_seconds: float
    job_webhook_url: str = ""
    mail: MailConfig = field(default_factory=MailConfig)


@dataclass(kw_only=True)
class Knowledge:
    """Built once by the app; nothing heavy is opened until first use."""

    config: KnowledgeConfig
    store: VectorStore
    storage: FileStorage
    worker: IndexingWorker
    scheduler: JobScheduler

    @classmethod
    def build(
        cls,
        factory: async_sessionmaker[AsyncSession],
        config: KnowledgeConfig,
        *,
        embedder_factory: EmbedderFactory | None = None,
    ) -> Knowledge:
        """The knowledge objects of one process (`embedder_factory` for the litellm backend)."""
        reader = thread_reader(factory)

        def live_versions(loop: asyncio.AbstractEventLoop) -> LiveVersions:
            """The files' live versions read on a search's thread: there, on a SQLite file;
            else through `loop`, the app's."""
            if reader is not None:
                return lambda file_ids: reader(library.read_live_versions, file_ids)
            return lambda file_ids: asyncio.run_coroutine_threadsafe(
                run_read(factory, library.read_live_versions, file_ids), loop
            ).result()

        store = VectorStore(
            config.vectors, embedder_factory=embedder_factory, live_versions=live_versions
        )
        storage = FileStorage(config.vectors.data_dir / "library")
        worker = IndexingWorker(
            factory=factory, store=store, storage=storage, limits=config.parse_limits
        )
        scheduler = JobScheduler(
            factory=factory,
            store=store,
            storage=storage,
            worker=worker,
            config=SchedulerConfig(
                sync_root=config.sync_root,
                max_file_bytes=config.upload_limits.max_bytes,
                poll_seconds=config.job_poll_seconds,
                webhook_url=config.job_webhook_url,
                mail=config.mail,
            ),
        )
        return cls(config=config, store=store, storage=storage, worker=worker, scheduler=scheduler)

    def start(self) -> None:
        """Start the indexing worker (files left pending or indexing are taken up) and jobs."""
        try:
            self.store.check_available()
        except VectorStoreUnavailable:
            pass  # several workers and no Qdrant server: knowledge calls answer 503
        else:
            self.worker.start()
        self.scheduler.start()

    async def stop(self) -> None:
        """Stop jobs and the worker (its current file goes back to pending), close the index,
        stop the parse and embedding processes."""
        await self.scheduler.stop()
        await self.worker.stop()
        self.store.close()
        await asyncio.to_thread(shutdown_parsing_workers)
        await asyncio.to_thread(shutdown_embedding_workers)
