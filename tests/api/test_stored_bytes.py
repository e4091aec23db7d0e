"""Stored bytes after a delete: a library file or attachment deleted while an upload of the same
content is between storing and committing never takes the upload's bytes; the sweep removes only
bytes no row holds and nobody put for its grace period.

The races are driven through the real code with one side held at a seam (a thread event): the
upload just after `FileStorage.put`, or a sync's removal of a file's bytes at its unlink."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api import stored_bytes
from knowledge import sync
from knowledge.storage import FileStorage, StoredFileMissing, content_key
from tests.support import AppHarness, Caller, Harnesses, eventually

pytestmark = pytest.mark.anyio
TWO_DAYS = 2 * 24 * 3600.0


@pytest.fixture(scope="module")
def sync_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sync")


@pytest.fixture(scope="module")
async def app(make_module_harness: Harnesses, sync_root: Path) -> AsyncIterator[AppHarness]:
    async with make_module_harness.running(
        embedding_backend="hash", library_sync_root=sync_root
    ) as harness:
        yield harness


def _needs_concurrent_writers(app: AppHarness) -> None:
    if app.services.engine.dialect.name == "sqlite":
        pytest.skip(
            "SQLite's write lock, taken by the upload's first statement, makes the delete wait "
            "for its commit: this interleaving cannot happen there (the sync's test covers it)"
        )


class HeldPut:
    """`FileStorage.put` of some content stops once it has run, until released."""

    def __init__(self, data: bytes) -> None:
        self.key = content_key(data)
        self.stored = threading.Event()
        self.release = threading.Event()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real = FileStorage.put

        def put(storage: FileStorage, data: bytes) -> str:
            key = real(storage, data)
            if key == self.key and not self.stored.is_set():
                self.stored.set()
                assert self.release.wait(30), "never released"
            return key

        monkeypatch.setattr(FileStorage, "put", put)

    async def wait_stored(self) -> None:
        assert await asyncio.to_thread(self.stored.wait, 30), "the upload never stored its bytes"


async def _to_library(app: AppHarness, data: bytes) -> str:
    response = await app.client.post(
        "/api/library/files", files=[("files", ("notes.txt", data))], headers=app.admin.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["_embedded"]["files"][0]["id"])


async def _library_content(app: AppHarness, file_id: str) -> Any:
    return await app.client.get(f"/api/library/files/{file_id}/content", headers=app.admin.headers)


async def _attach(app: AppHarness, caller: Caller, chat_id: str, data: bytes) -> str:
    response = await app.client.post(
        f"/api/chats/{chat_id}/attachments",
        files=[("files", ("notes.txt", data))],
        headers=caller.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["_embedded"]["attachments"][0]["id"])


async def _mirror(app: AppHarness, sync_root: Path, path: str, folder_id: str) -> sync.SyncResult:
    knowledge = app.services.knowledge
    return await sync.sync_folder(
        app.services.sessions,
        store=knowledge.store,
        storage=knowledge.storage,
        root=sync_root,
        path=path,
        folder_id=folder_id,
        max_bytes=1 << 20,
    )


async def _sync_source(app: AppHarness, sync_root: Path, name: str, *texts: bytes) -> str:
    """A server folder `name` of files 1.txt, 2.txt ... (synced in that order) and a new
    library folder to mirror it into; the folder's id."""
    source = sync_root / name
    source.mkdir()
    for number, data in enumerate(texts, start=1):
        (source / f"{number}.txt").write_bytes(data)
    folder = await app.client.post(
        "/api/library/folders", json={"name": name}, headers=app.admin.headers
    )
    assert folder.status_code == 201, folder.text
    return str(folder.json()["id"])


def _age(path: Path, seconds: float = TWO_DAYS) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def _library_path(app: AppHarness, data: bytes) -> Path:
    return app.services.knowledge.storage.path_of(content_key(data))


def _chat_path(app: AppHarness, chat_id: str, data: bytes) -> Path:
    attachments = app.services.chat.attachments
    assert attachments is not None
    return attachments.of(chat_id).path_of(content_key(data))


async def test_a_library_file_deleted_while_an_upload_reuses_its_bytes_leaves_them_to_the_upload(
    app: AppHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _needs_concurrent_writers(app)
    data = b"Walrus feeding schedule: noon and dusk, herring only. " * 8
    first = await _to_library(app, data)
    held = HeldPut(data)
    held.install(monkeypatch)
    second = asyncio.create_task(_to_library(app, data))
    await held.wait_stored()  # the upload found the bytes there; its row is not committed yet
    deleted = await app.client.delete(f"/api/library/files/{first}", headers=app.admin.headers)
    assert deleted.status_code == 204, deleted.text
    held.release.set()
    second_id = await second
    content = await _library_content(app, second_id)
    assert content.status_code == 200, content.text
    assert content.content == data


async def test_an_attachment_deleted_while_an_upload_reuses_its_bytes_leaves_them_to_the_upload(
    app: AppHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _needs_concurrent_writers(app)
    data = b"Minutes of the lighthouse committee, third session. " * 8
    chat_id = await app.chat(app.admin)
    first = await _attach(app, app.admin, chat_id, data)
    held = HeldPut(data)
    held.install(monkeypatch)
    second = asyncio.create_task(_attach(app, app.admin, chat_id, data))
    await held.wait_stored()
    base = f"/api/chats/{chat_id}/attachments"
    deleted = await app.client.delete(f"{base}/{first}", headers=app.admin.headers)
    assert deleted.status_code == 204, deleted.text
    held.release.set()
    second_id = await second
    content = await app.client.get(f"{base}/{second_id}/content", headers=app.admin.headers)
    assert content.status_code == 200, content.text
    assert content.content == data


async def test_a_file_a_sync_deletes_keeps_its_bytes_for_an_upload_committed_meanwhile(
    app: AppHarness, sync_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"Harbour crane inspection log, week nine. " * 10
    source = sync_root / "race"
    source.mkdir()
    (source / "log.txt").write_bytes(data)
    folder = await app.client.post(
        "/api/library/folders", json={"name": "Race"}, headers=app.admin.headers
    )
    assert folder.status_code == 201, folder.text

    def mirror() -> Any:
        return _mirror(app, sync_root, "race", folder.json()["id"])

    assert (await mirror()).counts["added"] == 1
    (source / "log.txt").unlink()
    unlinking, release = threading.Event(), threading.Event()
    real_unlink = Path.unlink

    def unlink(path: Path, missing_ok: bool = False) -> None:
        if path.name == content_key(data):  # the sync removing the deleted file's bytes
            unlinking.set()
            assert release.wait(30), "never released"
        real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    deleting = asyncio.create_task(mirror())
    # The sync has committed its delete: it is done, or about to remove the bytes.
    await eventually(lambda: deleting.done() or unlinking.is_set(), seconds=30)
    uploaded = await _to_library(app, data)  # finds the bytes there and commits its row
    release.set()
    assert (await deleting).counts["deleted"] == 1
    content = await _library_content(app, uploaded)
    assert content.status_code == 200, content.text
    assert content.content == data


async def test_the_sweep_removes_only_bytes_no_row_holds_that_nobody_put_for_its_grace_period(
    app: AppHarness,
) -> None:
    gone, young, held = (f"Sweep sample {name}. ".encode() * 20 for name in ("a", "b", "c"))
    ids = {data: await _to_library(app, data) for data in (gone, young, held)}
    chat_id = await app.chat(app.admin)
    attached = {data: await _attach(app, app.admin, chat_id, data) for data in (gone, young, held)}
    for data in (gone, young):
        response = await app.client.delete(
            f"/api/library/files/{ids[data]}", headers=app.admin.headers
        )
        assert response.status_code == 204, response.text
        response = await app.client.delete(
            f"/api/chats/{chat_id}/attachments/{attached[data]}", headers=app.admin.headers
        )
        assert response.status_code == 204, response.text
    for data in (gone, held):
        _age(_library_path(app, data))
        _age(_chat_path(app, chat_id, data))
    assert _library_path(app, gone).exists()  # a delete leaves the bytes to the sweep

    assert await stored_bytes.sweep_once(app.services) == 2  # the library's and the chat's
    assert not _library_path(app, gone).exists()
    assert not _chat_path(app, chat_id, gone).exists()
    for data in (young, held):
        assert _library_path(app, data).exists()
        assert _chat_path(app, chat_id, data).exists()
    assert (await _library_content(app, ids[held])).content == held


async def test_the_sweep_keeps_old_unheld_bytes_that_an_upload_in_flight_has_just_reused(
    app: AppHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"Tide table for the northern harbour, spring quarter. " * 8
    first = await _to_library(app, data)
    deleted = await app.client.delete(f"/api/library/files/{first}", headers=app.admin.headers)
    assert deleted.status_code == 204, deleted.text
    _age(_library_path(app, data))
    held = HeldPut(data)
    held.install(monkeypatch)
    second = asyncio.create_task(_to_library(app, data))
    await held.wait_stored()  # no row holds the bytes yet, but they were just put again
    assert await stored_bytes.sweep_once(app.services) == 0
    held.release.set()
    second_id = await second
    assert (await _library_content(app, second_id)).content == data


async def test_the_sweep_keeps_bytes_for_the_grace_period_set_and_sweeps_once_an_interval(
    make_harness: Harnesses,
) -> None:
    async with make_harness.running(
        embedding_backend="hash", stored_bytes_grace_seconds=7200
    ) as app:
        older, newer = (f"Grace sample {name}. ".encode() * 20 for name in ("a", "b"))
        for data, age in ((older, 3 * 3600), (newer, 3600)):
            file_id = await _to_library(app, data)
            deleted = await app.client.delete(
                f"/api/library/files/{file_id}", headers=app.admin.headers
            )
            assert deleted.status_code == 204, deleted.text
            _age(_library_path(app, data), age)
        assert await stored_bytes.sweep_if_due(app.services) == 1  # past two hours: gone
        assert not _library_path(app, older).exists()
        assert _library_path(app, newer).exists()
        _age(_library_path(app, newer), 3 * 3600)
        # This worker (or another on the folder) swept in this hour: the next wakes and waits.
        assert await stored_bytes.sweep_if_due(app.services) is None
        assert _library_path(app, newer).exists()


async def test_a_long_sync_keeps_the_bytes_it_stored_young_until_it_commits(
    app: AppHarness, sync_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync, "REFRESH_SECONDS", 0.0)  # refresh after every file
    first, second, third = (f"Long sync, page {n}. ".encode() * 20 for n in (1, 2, 3))
    folder_id = await _sync_source(app, sync_root, "long", first, second, third)
    at_second, at_third = HeldPut(second), HeldPut(third)
    at_second.install(monkeypatch)
    at_third.install(monkeypatch)
    running = asyncio.create_task(_mirror(app, sync_root, "long", folder_id))
    await at_second.wait_stored()
    _age(_library_path(app, first))  # as if the sync had run for two days since storing it
    at_second.release.set()
    await at_third.wait_stored()  # the second file is in: the sync refreshed the first's time
    assert await stored_bytes.sweep_once(app.services) == 0
    at_third.release.set()
    assert (await running).counts["added"] == 3
    listed = await app.client.get(
        "/api/library/files", params={"folderId": folder_id}, headers=app.admin.headers
    )
    for row in listed.json()["_embedded"]["files"]:
        assert (await _library_content(app, row["id"])).status_code == 200


async def test_a_sync_whose_stored_bytes_a_sweep_took_commits_nothing(
    app: AppHarness, sync_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync, "REFRESH_SECONDS", 0.0)
    first, second = (f"Swept sync, page {n}. ".encode() * 20 for n in (1, 2))
    folder_id = await _sync_source(app, sync_root, "swept", first, second)
    at_second = HeldPut(second)
    at_second.install(monkeypatch)
    running = asyncio.create_task(_mirror(app, sync_root, "swept", folder_id))
    await at_second.wait_stored()
    _age(_library_path(app, first))  # older than the grace before the sync refreshed it
    assert await stored_bytes.sweep_once(app.services) == 1
    at_second.release.set()
    with pytest.raises(StoredFileMissing, match="run the job again"):
        await running
    listed = await app.client.get(
        "/api/library/files", params={"folderId": folder_id}, headers=app.admin.headers
    )
    assert listed.json()["total"] == 0  # no row points at bytes that are gone
