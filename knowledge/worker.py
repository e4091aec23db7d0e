"""The indexing worker: takes `pending` files one at a time, parses, chunks, embeds and stores them.

Work is claimed in the database with a conditional update and a lease, so with several processes
each file is indexed by one of them, and a file left `indexing` by a process that stopped is picked
up again once its lease runs out (a process stopping cleanly hands its file back at once).
Progress (chunks done of all) is saved on the file row while it runs.

Each run writes the file's chunks as a new version and, once all are stored, makes it the
file's live version in the same conditional write that marks the file `indexed`
(`knowledge.indexing`): a run that fails, stops or lost its claim never makes its version live,
so searches keep returning the previous version, or nothing for a file never indexed whole.

When no file is left to index after some were, the worker has the index build its search
structures (`VectorIndex.optimize_in_background`: Qdrant Edge's segment optimisation and HNSW
graph; a Qdrant server does this by itself) in the index's own thread, one run at a time and
once per batch, so searches are served by an optimised index without blocking the event loop.
Once no file has come for `RELEASE_PARSERS_SECONDS`, it stops the parse worker processes (they
start again with the next file), so an idle server does not hold their memory.

When embeddings cost money (the litellm backend) indexing is billed to the file's uploader
(`created_by`: whoever uploaded it, or the owner of the library-sync job that mirrored it) with
the file's team, if any, so team budgets apply; a file with no recorded uploader is billed to its
owning user. A refusal by billing (budget, seat, price) marks the file `failed` with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock
from core.database import write_transaction
from core.errors import SwitchboardError
from knowledge import library
from knowledge.documents import ParsedDocument, ParseLimits
from knowledge.embeddings import BillableEmbedder, Embedder, bind_caller
from knowledge.errors import NoOneToBill, VectorStoreUnavailable
from knowledge.indexing import index_document, new_version
from knowledge.models import LibraryFile
from knowledge.parsing import parse_in_worker, shutdown_parsing_workers
from knowledge.storage import FileStorage
from knowledge.vector_store import VectorStore

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=120)
PROGRESS_SECONDS = 0.5
CONFIRM_SECONDS = 30.0
IDLE_SECONDS = 5.0
RELEASE_PARSERS_SECONDS = 60.0


class _Stopped(Exception):
    """The worker is stopping, or the file was taken back (reindexed, deleted)."""


@dataclass(kw_only=True)
class _Progress:
    """Chunks done of all, and whether to stop; called on the indexing's thread.

    `confirm` is called once every vector is ready, just before the index is written: it renews
    the claim's lease, so a run that lost its claim (its lease ran out while its renewals failed,
    and another worker took the file) writes nothing, and one that kept it holds it for a whole
    `LEASE` while it writes.
    """

    done: int = 0
    total: int = 0
    stop: bool = False
    confirm: Callable[[], bool] | None = None

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if self.stop or (done == total and self.confirm is not None and not self.confirm()):
            raise _Stopped()


def worker_id() -> str:
    """A name for this process's worker, unique across hosts and restarts."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class IndexingWorker:
    """Indexes pending library files in the background of one process."""

    def __init__(
        self,
        *,
        factory: async_sessionmaker[AsyncSession],
        store: VectorStore,
        storage: FileStorage,
        limits: ParseLimits,
    ) -> None:
        self.factory = factory
        self.store = store
        self.storage = storage
        self.limits = limits
        self.id = worker_id()
        self._wake = asyncio.Event()
        self._stopping = False
        self._current: _Progress | None = None
        self._task: asyncio.Task[None] | None = None
        self._written = False
        self._parsed_at: float | None = None  # when the last file was done, while parsers run
        self._optimizing: Future[None] | None = None
        self.optimizations = 0  # runs completed, for tests and the bench

    def start(self) -> None:
        """Start working through pending files (those left from before a restart included)."""
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="indexing worker")

    def wake(self) -> None:
        """Look for pending files now (after an upload or a reindex request)."""
        self._wake.set()

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop at the next batch of chunks and hand the current file back as `pending`."""
        self._stopping = True
        if self._current is not None:
            self._current.stop = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=grace_seconds)
        async with write_transaction(self.factory) as session:
            await session.execute(
                update(LibraryFile)
                .where(LibraryFile.lease_owner == self.id, LibraryFile.status == "indexing")
                .values(status="pending", lease_owner=None, lease_until=None)
            )

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                row = await self._claim()
                if row is not None:
                    await self._index(row)
                    self._written, self._parsed_at = True, time.monotonic()
                    continue
                await self._settle()
            except Exception:
                log.exception("indexing worker: unexpected failure; going on")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=IDLE_SECONDS)

    async def _settle(self) -> None:
        """Nothing left to index: optimise the index after a batch, in its background thread;
        stop the parse workers once idle for `RELEASE_PARSERS_SECONDS`.

        At most one optimisation at a time; a batch that ends while one runs gets its own after.
        """
        idle = time.monotonic() - (self._parsed_at or 0.0)
        if self._parsed_at is not None and idle >= RELEASE_PARSERS_SECONDS:
            self._parsed_at = None
            await asyncio.to_thread(shutdown_parsing_workers)
        if not self._written or (self._optimizing is not None and not self._optimizing.done()):
            return
        self._written = False
        try:
            running = await asyncio.to_thread(lambda: self.store.index().optimize_in_background())
        except VectorStoreUnavailable:
            return
        running.add_done_callback(self._optimized)
        self._optimizing = running

    def _optimized(self, run: Future[None]) -> None:
        if run.cancelled() or run.exception() is not None:
            log.warning("optimising the vector index failed: %s", run.exception())
            return
        self.optimizations += 1

    async def _claim(self) -> LibraryFile | None:
        """Take the oldest pending file, or one whose indexer's lease ran out."""
        now = clock.now()
        claimable = or_(
            LibraryFile.status == "pending",
            (LibraryFile.status == "indexing") & (LibraryFile.lease_until < now),
        )
        # Look first without the write lock, so an idle worker never makes writers wait.
        async with self.factory() as session:
            file_id = await session.scalar(
                select(LibraryFile.id).where(claimable).order_by(LibraryFile.updated_at).limit(1)
            )
        if file_id is None:
            return None
        async with write_transaction(self.factory) as session:
            result = await session.execute(
                update(LibraryFile)
                .where(LibraryFile.id == file_id, claimable)
                .values(
                    status="indexing",
                    progress=0.0,
                    chunks_indexed=0,
                    lease_owner=self.id,
                    lease_until=now + LEASE,
                )
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return None
            return await session.get(LibraryFile, file_id, populate_existing=True)

    async def _index(self, row: LibraryFile) -> None:
        loop = asyncio.get_running_loop()
        progress = _Progress(
            stop=self._stopping, confirm=lambda: self._renew_from_thread(row.id, loop)
        )
        self._current = progress
        saver = asyncio.create_task(self._save_progress(row.id, progress))
        try:
            await asyncio.to_thread(self.store.ready)
            if self.store.take_model_change():
                async with write_transaction(self.factory) as session:
                    await library.requeue_all(session)
                return
            data = await asyncio.to_thread(self.storage.read, row.storage_key)
            document = await parse_in_worker(data, self.limits)
            if progress.stop:
                raise _Stopped()
            version = new_version()
            count = await asyncio.to_thread(self._index_blocking, row, document, progress, version)
            await self._finish(row, count, document.pages, version, replaced=row.live_version)
        except _Stopped:
            return
        except SwitchboardError as exc:  # knowledge's own, and billing's refusals
            await self._fail(row, exc.code, exc.message)
        except Exception as exc:
            log.exception("indexing %s failed", row.id)
            await self._fail(row, "indexing_failed", f"Indexing failed: {exc}"[:2000])
        finally:
            saver.cancel()
            self._current = None

    def _index_blocking(
        self, row: LibraryFile, document: ParsedDocument, progress: _Progress, version: str
    ) -> int:
        index, embedder = self.store.ready()
        chunks = index_document(
            index=index,
            embedder=_billed_to(embedder, row),
            document=document,
            file_id=row.id,
            file_name=row.name,
            owner=library.owner_of(row),
            folder_id=row.folder_id,
            progress=progress,
            version=version,
            live=row.live_version,
        )
        return len(chunks)

    async def _save_progress(self, file_id: str, progress: _Progress) -> None:
        """Every PROGRESS_SECONDS: save n/m and renew the lease; stop if the claim is gone.

        A failed save (the database unreachable a while) is logged and tried again at the next
        tick; the lease is renewed once more before the index is written (`_Progress.confirm`).
        """
        while True:
            await asyncio.sleep(PROGRESS_SECONDS)
            fraction = progress.done / progress.total if progress.total else 0.0
            try:
                kept = await self._renew(
                    file_id,
                    progress=round(fraction, 4),
                    chunks_indexed=progress.done,
                    chunk_count=progress.total,
                )
            except Exception as exc:
                log.warning("saving the indexing progress of %s failed: %s", file_id, exc)
                continue
            if not kept:
                progress.stop = True
                return

    async def _renew(self, file_id: str, **values: object) -> bool:
        """Renew the claim's lease (and save `values`); False if the claim is no longer ours."""
        async with write_transaction(self.factory) as session:
            result = await session.execute(
                update(LibraryFile)
                .where(LibraryFile.id == file_id, LibraryFile.lease_owner == self.id)
                .values(lease_until=clock.now() + LEASE, **values)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def _renew_from_thread(self, file_id: str, loop: asyncio.AbstractEventLoop) -> bool:
        """`_renew` run on the worker's loop from the indexing's thread; False if it failed."""
        renewal = asyncio.run_coroutine_threadsafe(self._renew(file_id), loop)
        try:
            return renewal.result(timeout=CONFIRM_SECONDS)
        except Exception as exc:  # the database unreachable, or the loop stuck
            renewal.cancel()
            log.warning("renewing the claim on %s before writing failed: %s", file_id, exc)
            return False

    async def _finish(
        self, row: LibraryFile, count: int, pages: int | None, version: str, *, replaced: str | None
    ) -> None:
        """Make the version written live in one write (if the claim is still ours), then
        delete the version it `replaced` (that one only: once the claim is released, another
        run may be writing a newer version, which a wider delete could cut short)."""
        async with write_transaction(self.factory) as session:
            result = await session.execute(
                update(LibraryFile)
                .where(LibraryFile.id == row.id, LibraryFile.lease_owner == self.id)
                .values(
                    status="indexed",
                    live_version=version,
                    progress=1.0,
                    chunks_indexed=count,
                    chunk_count=count,
                    pages=pages,
                    model_id=self.store.ready()[1].model_id,
                    indexed_at=clock.now(),
                    error=None,
                    error_code=None,
                    lease_owner=None,
                    lease_until=None,
                )
            )
            still_there = await session.get(LibraryFile, row.id) is not None
        if not result.rowcount:  # type: ignore[attr-defined]
            if not still_there:  # deleted while indexing: drop what was added
                await self.store.delete_file(row.id)
            return  # taken back: the next run deletes this version, never live
        if replaced is None or replaced == version:
            return
        try:
            await asyncio.to_thread(lambda: self.store.ready()[0].delete_version(row.id, replaced))
        except VectorStoreUnavailable as exc:  # hidden already; the next indexing deletes them
            log.warning("deleting the replaced chunks of %s failed: %s", row.id, exc)

    async def _fail(self, row: LibraryFile, code: str, message: str) -> None:
        async with write_transaction(self.factory) as session:
            await session.execute(
                update(LibraryFile)
                .where(LibraryFile.id == row.id, LibraryFile.lease_owner == self.id)
                .values(
                    status="failed",
                    error_code=code,
                    error=message[:2000],
                    lease_owner=None,
                    lease_until=None,
                )
            )


def _billed_to(embedder: Embedder, row: LibraryFile) -> Embedder:
    """The embedder billing the file's uploader (see the module docstring).

    Raises:
        NoOneToBill: the embedder is billable and no user can be billed.
    """
    user_id = row.created_by or row.owner_user_id
    if user_id is None:
        if not isinstance(embedder, BillableEmbedder):
            return embedder
        raise NoOneToBill()
    return bind_caller(embedder, user_id, (row.team_id,) if row.team_id else ())
