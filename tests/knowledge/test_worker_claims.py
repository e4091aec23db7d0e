"""Two indexing runs of one file never cut each other's chunks short: a run writes only while it
holds the file's claim, renewed just before it writes, and after its version goes live it deletes
the version it replaced and no other (the app, its worker and database, the real model and
Qdrant Edge; runs are held at the vector-store seam)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from core import clock
from core.database import write_transaction
from knowledge.index import IndexedChunk
from knowledge.models import LibraryFile
from knowledge.worker import IndexingWorker
from tests.knowledge import samples
from tests.knowledge.apps import chunk_texts, index_of, knowledge_app, upload, wait_settled
from tests.support import AppHarness, Harnesses

pytestmark = pytest.mark.anyio

WAIT_SECONDS = 60.0
HARBOUR = samples.markdown_file(
    [
        ("Cranes", ["The quayside crane QX-4471 lifts containers from the barge."]),
        ("Weather", ["Fog delays the ferry to the lighthouse island every November."]),
    ]
)


async def _reindex(app: AppHarness, file_id: str) -> None:
    response = await app.client.post(
        f"/api/library/files/{file_id}/_reindex", headers=app.admin.headers
    )
    assert response.status_code == 202, response.text


class _Hold:
    """Holds the worker's thread in one call to the index until let through."""

    def __init__(self, call: Callable[..., Any], *, at: int = 1) -> None:
        self.call, self.at, self.calls = call, at, 0
        self.arrived, self.go, self.returned = (
            threading.Event(),
            threading.Event(),
            threading.Event(),
        )

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        held = self.calls == self.at
        if held:
            self.arrived.set()
            assert self.go.wait(WAIT_SECONDS)
        try:
            return self.call(*args)
        finally:
            if held:
                self.returned.set()

    async def reached(self) -> None:
        assert await asyncio.to_thread(self.arrived.wait, WAIT_SECONDS)


async def test_a_run_whose_claim_was_taken_while_its_lease_went_unrenewed_writes_nothing(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's renewals wait on the database (another transaction holds the row) while its
    claim passes to another worker: it must not write once it has its vectors."""
    async with knowledge_app(make_harness) as app:
        [row] = await upload(app, app.admin, {"harbour.md": HARBOUR})
        await wait_settled(app, app.admin, [row["id"]])
        live = await chunk_texts(app, row["id"])
        index = await index_of(app)
        stored = await asyncio.to_thread(index.count, file_id=row["id"])

        hold = _Hold(index.stored_vectors)  # each vector is reused: it is the run's last step
        upserts: list[Sequence[IndexedChunk]] = []
        upsert = index.upsert

        def recorded(chunks: Sequence[IndexedChunk]) -> None:
            upserts.append(chunks)
            upsert(chunks)

        monkeypatch.setattr(index, "stored_vectors", hold)
        monkeypatch.setattr(index, "upsert", recorded)
        await _reindex(app, row["id"])
        await hold.reached()
        async with write_transaction(app.services.sessions) as session:
            await session.execute(
                update(LibraryFile)
                .where(LibraryFile.id == row["id"])
                .values(lease_owner="another-worker", lease_until=clock.now() + timedelta(hours=1))
            )
            hold.go.set()
            assert await asyncio.to_thread(hold.returned.wait, WAIT_SECONDS)
            await asyncio.sleep(1.0)  # the run, without its renewal, would write meanwhile

        [other] = await upload(app, app.admin, {"other.md": samples.markdown_file([("A", ["b"])])})
        await wait_settled(app, app.admin, [other["id"]])  # one file at a time: the run ended
        assert [chunks for chunks in upserts if chunks[0].file_id == row["id"]] == []
        assert await asyncio.to_thread(index.count, file_id=row["id"]) == stored
        assert await chunk_texts(app, row["id"]) == live


async def test_deleting_the_replaced_version_late_never_cuts_a_newer_one_short(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run held between making its version live and deleting the one it replaced, while
    another worker indexes the file again and makes that version live: the late delete leaves
    the newest version whole."""
    async with knowledge_app(make_harness) as app:
        [row] = await upload(app, app.admin, {"harbour.md": HARBOUR})
        await wait_settled(app, app.admin, [row["id"]])
        texts = await chunk_texts(app, row["id"])
        index = await index_of(app)
        # Deletes of a run: what earlier runs left (before writing), then the replaced version.
        deletes = _Hold(lambda call, *args: call(*args), at=2)
        for name in ("settle_file", "delete_version"):
            monkeypatch.setattr(
                index, name, lambda *args, _call=getattr(index, name): deletes(_call, *args)
            )
        await _reindex(app, row["id"])
        await deletes.reached()  # the first worker's version is live; its delete waits

        first = app.services.knowledge.worker
        second = IndexingWorker(
            factory=first.factory, store=first.store, storage=first.storage, limits=first.limits
        )
        second.start()
        try:
            await _reindex(app, row["id"])
            done = (await wait_settled(app, app.admin, [row["id"]]))[row["id"]]
            assert done["status"] == "indexed", done
            assert await chunk_texts(app, row["id"]) == texts  # the second worker's version
        finally:
            deletes.go.set()
            assert await asyncio.to_thread(deletes.returned.wait, WAIT_SECONDS)
            await second.stop()
        assert await chunk_texts(app, row["id"]) == texts
        assert await asyncio.to_thread(index.count, file_id=row["id"]) == len(texts)
