"""Searches return a file's chunks from one whole version, the one its row records as live: never
those of a first indexing that did not complete, never a version its run did not finish, and an
index from before versions stays searchable after the upgrade (the app, its worker and its
database, the real model and Qdrant Edge; the index fails or waits at the vector-store seam)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from knowledge.chunking import chunk_document
from knowledge.documents import ParseLimits
from knowledge.embeddings import load_embedder
from knowledge.errors import VectorStoreUnavailable
from knowledge.index import COLLECTION, CollectionSpec, IndexedChunk, Owner, VectorIndex
from knowledge.index_edge import EdgeIndex
from knowledge.indexing import index_document
from knowledge.storage import FileStorage
from knowledge.text_files import parse_markdown
from tests.knowledge import samples
from tests.knowledge.apps import (
    chunk_texts,
    index_of,
    knowledge_app,
    run_sync,
    search,
    upload,
    wait_settled,
)
from tests.knowledge.conftest import MODEL_CACHE
from tests.support import ADMIN, AppHarness, Harnesses, database_at

pytestmark = pytest.mark.anyio

WAIT_SECONDS = 60.0
OLD = [
    ("Cranes", ["The quayside crane QX-4471 lifts containers from the barge."]),
    ("Weather", ["Fog delays the ferry to the lighthouse island every November."]),
]
NEW = [
    ("Cranes", ["The gantry crane GT-9902 stacks containers six high on the quay."]),
    ("Weather", ["Storms close the harbour for a week every January."]),
]


def _manual(parts: int) -> bytes:
    """A manual of `parts` sections, one chunk each: more than one batch of 64."""
    return samples.markdown_file(
        [
            (f"Part {n}", [f"Part {n} covers gauge model G-{n} and its spare seals."])
            for n in range(parts)
        ]
    )


async def _found(app: AppHarness, *queries: str) -> set[str]:
    return {
        passage["text"]
        for query in queries
        for passage in await search(app, app.admin, query=query)
    }


async def test_a_first_indexing_failing_at_its_second_batch_leaves_nothing_searchable(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with knowledge_app(make_harness) as app:
        index = await index_of(app)
        upsert, batches = index.upsert, []

        def second_batch_fails(chunks: Sequence[IndexedChunk]) -> None:
            batches.append(len(chunks))
            if len(batches) == 2:
                raise VectorStoreUnavailable("broken on purpose at the second batch")
            upsert(chunks)

        monkeypatch.setattr(index, "upsert", second_batch_fails)
        [row] = await upload(app, app.admin, {"manual.md": _manual(100)})
        failed = (await wait_settled(app, app.admin, [row["id"]]))[row["id"]]
        assert failed["status"] == "failed", failed
        assert await asyncio.to_thread(index.count, file_id=row["id"]) == batches[0] == 64
        assert await _found(app, "gauge model G-3", "spare seals") == set()
        assert await chunk_texts(app, row["id"]) == []

        monkeypatch.undo()
        reindexed = await app.client.post(
            f"/api/library/files/{row['id']}/_reindex", headers=app.admin.headers
        )
        assert reindexed.status_code == 202, reindexed.text
        done = (await wait_settled(app, app.admin, [row["id"]]))[row["id"]]
        assert done["status"] == "indexed", done
        assert await _found(app, "gauge model G-3")
        stored = await asyncio.to_thread(index.count, file_id=row["id"])
        assert stored == done["chunkCount"] > 64  # what the failed run left is gone


class _Gate:
    """Holds each indexing run at its first write to the index until let through (the worker's
    thread waits there; the event loop, and so searches, go on)."""

    def __init__(self, index: VectorIndex) -> None:
        self.upsert = index.upsert
        self.arrived = [threading.Event(), threading.Event()]
        self.go = [threading.Event(), threading.Event()]
        self.runs = 0

    def __call__(self, chunks: Sequence[IndexedChunk]) -> None:
        run, self.runs = self.runs, self.runs + 1  # each run here writes one batch
        self.arrived[run].set()
        assert self.go[run].wait(WAIT_SECONDS)
        self.upsert(chunks)

    async def reached(self, run: int) -> None:
        assert await asyncio.to_thread(self.arrived[run].wait, WAIT_SECONDS)


async def test_a_new_version_is_found_only_once_its_run_completes_on_the_files_row(
    tmp_path: Path, make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that wrote the whole new version but lost its claim (a re-index was asked for
    meanwhile) never makes it live: until the next run completes, searches and the chunks
    listing return the old version alone, and after it the new one alone."""
    source = tmp_path / "sync" / "docs"
    source.mkdir(parents=True)
    (source / "harbour.md").write_bytes(samples.markdown_file(OLD))
    async with knowledge_app(make_harness, library_sync_root=tmp_path / "sync") as app:
        folder = await app.client.post(
            "/api/library/folders", json={"name": "Mirror"}, headers=app.admin.headers
        )
        params = {"path": "docs", "folderId": folder.json()["id"]}
        job = await app.client.post(
            "/api/jobs",
            json={"name": "mirror", "type": "library-sync", "params": params},
            headers=app.admin.headers,
        )
        assert job.status_code == 201, job.text
        file_id = await run_sync(app, job.json()["id"], 1)
        await wait_settled(app, app.admin, [file_id])
        old = await chunk_texts(app, file_id)
        queries = ("which crane lifts containers", "when does the weather stop the ferry")
        assert await _found(app, *queries) <= set(old)

        index = await index_of(app)
        gate = _Gate(index)
        monkeypatch.setattr(index, "upsert", gate)
        edited = samples.markdown_file(NEW).replace(b"# Handbook", b"# Harbour notes")
        (source / "harbour.md").write_bytes(edited)
        await run_sync(app, job.json()["id"], 2)
        await gate.reached(0)
        again = await app.client.post(
            f"/api/library/files/{file_id}/_reindex", headers=app.admin.headers
        )
        assert again.status_code == 202, again.text  # the first run's claim is taken back
        gate.go[0].set()  # it writes the whole new version, and cannot make it live
        await gate.reached(1)  # the next run, writing
        found = await _found(app, *queries)
        assert found and found <= set(old), found
        assert await chunk_texts(app, file_id) == old

        gate.go[1].set()
        done = (await wait_settled(app, app.admin, [file_id]))[file_id]
        assert done["status"] == "indexed", done
        new = await chunk_texts(app, file_id)
        assert new and not set(new) & set(old)
        found = await _found(app, *queries)
        assert found and found <= set(new), found
        assert await asyncio.to_thread(index.count, file_id=file_id) == len(new)


USER = "olduser0000000000000000001"
INDEXED = "oldfile0000000000000000001"
UNFINISHED = "oldfile0000000000000000002"
FILES = {INDEXED: samples.markdown_file(OLD), UNFINISHED: _manual(100)}


def _database_before_versions(path: Path, keys: dict[str, str]) -> str:
    """A database at knowledge_0005 with the admin's two files: one indexed, one whose first
    indexing never completed (it failed after writing some chunks)."""
    stamp = "'2026-01-01 10:00:00'"
    files = [
        (INDEXED, "harbour.md", "indexed", stamp),
        (UNFINISHED, "manual.md", "failed", "NULL"),
    ]
    return database_at(
        "knowledge_0005",
        path,
        [
            "INSERT INTO core_user (id, username, display_name, email, password_hash, role,"
            f" active, created_at, updated_at) VALUES ('{USER}', '{ADMIN}', 'Old',"
            f" 'old@example.com', 'x', 'admin', TRUE, {stamp}, {stamp})",
            *(
                "INSERT INTO knowledge_file (id, name, owner_user_id, created_by, file_type, size,"
                " sha256, storage_key, status, progress, chunks_indexed, chunk_count,"
                f" indexed_at, created_at, updated_at) VALUES ('{file_id}', '{name}', '{USER}',"
                f" '{USER}', 'markdown', {len(FILES[file_id])}, '{keys[file_id]}',"
                f" '{keys[file_id]}', '{status}', 0, 0, 0, {indexed_at}, {stamp}, {stamp})"
                for file_id, name, status, indexed_at in files
            ),
        ],
    )


def _data_before_versions(data_dir: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The files' bytes and an index as indexing wrote it before versions (plain ids, no
    version): the indexed file whole, the unfinished one's first chunks only. Returns the files'
    storage keys and the texts stored by file."""
    keys = {file_id: FileStorage(data_dir / "library").put(data) for file_id, data in FILES.items()}
    embedder = load_embedder(cache_dir=MODEL_CACHE)
    index = EdgeIndex(data_dir / "qdrant-edge" / COLLECTION)
    stored = {}
    try:
        index.ensure_collection(CollectionSpec(embedder.model_id, embedder.dimension))
        written = {INDEXED: FILES[INDEXED], UNFINISHED: _manual(40)}  # the failed run's part
        for file_id, data in written.items():
            chunks = index_document(
                index=index, embedder=embedder, document=parse_markdown(data, ParseLimits()),
                file_id=file_id, file_name=file_id, owner=Owner(user_id=USER),
            )  # fmt: skip
            stored[file_id] = [chunk.text for chunk in chunks]
    finally:
        index.close()
    return keys, stored


async def test_an_index_from_before_versions_is_searched_as_it_was_after_the_upgrade(
    tmp_path: Path, make_harness: Harnesses
) -> None:
    """Its indexed files are found without re-indexing; the chunks of a first indexing that
    never completed are not, and its next run replaces them."""
    keys, stored = await asyncio.to_thread(_data_before_versions, tmp_path / "app" / "data")
    url = await asyncio.to_thread(_database_before_versions, tmp_path / "old.db", keys)
    settings: dict[str, Any] = {"database_url": url, "path": tmp_path / "app"}
    async with knowledge_app(make_harness, **settings) as app:
        found = await _found(app, "which crane lifts containers", "gauge model G-3")
        assert found and found <= set(stored[INDEXED]), found
        assert await chunk_texts(app, INDEXED) == stored[INDEXED]
        assert await chunk_texts(app, UNFINISHED) == []

        reindexed = await app.client.post(
            f"/api/library/files/{UNFINISHED}/_reindex", headers=app.admin.headers
        )
        assert reindexed.status_code == 202, reindexed.text
        done = (await wait_settled(app, app.admin, [UNFINISHED]))[UNFINISHED]
        assert done["status"] == "indexed", done
        whole = [
            chunk.text for chunk in chunk_document(parse_markdown(_manual(100), ParseLimits()))
        ]
        assert await chunk_texts(app, UNFINISHED) == whole[:50]  # the listing's first page
        index = await index_of(app)
        assert await asyncio.to_thread(index.count, file_id=UNFINISHED) == len(whole)
        assert await _found(app, "gauge model G-3")
