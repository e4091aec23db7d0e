"""Jobs through the API: one run at a time, library-sync by content hash, schedules, restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from core import database
from tests.knowledge import samples
from tests.knowledge.apps import knowledge_app, upload, wait_settled
from tests.support import AppHarness, Harnesses, eventually, fresh_database_url

pytestmark = pytest.mark.anyio


async def _finished_runs(app: AppHarness, job_id: str, count: int) -> list[dict[str, Any]]:
    async def finished() -> list[dict[str, Any]]:
        response = await app.client.get(f"/api/jobs/{job_id}/runs", headers=app.admin.headers)
        runs: list[dict[str, Any]] = response.json()["_embedded"]["runs"]
        assert len(runs) >= count and all(r["status"] != "running" for r in runs), runs
        return runs

    return await eventually(finished, seconds=60, interval=0.2)


async def _sync_job(app: AppHarness, folder_id: str) -> str:
    created = await app.client.post(
        "/api/jobs",
        json={
            "name": "mirror",
            "type": "library-sync",
            "params": {"path": "docs", "folderId": folder_id},
        },
        headers=app.admin.headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _mirrored(app: AppHarness, folder_id: str) -> dict[str, str]:
    response = await app.client.get(
        "/api/library/files", params={"folderId": folder_id}, headers=app.admin.headers
    )
    return {f["sourcePath"]: f["sha256"] for f in response.json()["_embedded"]["files"]}


async def test_library_sync_mirrors_new_changed_and_deleted_files_by_content_hash(
    tmp_path: Path, make_harness: Harnesses
) -> None:
    source = tmp_path / "sync" / "docs"
    source.mkdir(parents=True)
    (source / "a.md").write_bytes(samples.markdown_file([("A", ["Alpha text here."])]))
    (source / "b.txt").write_bytes(b"Bravo text, plain and simple.")
    async with knowledge_app(make_harness, library_sync_root=tmp_path / "sync") as app:
        folder = await app.client.post(
            "/api/library/folders", json={"name": "Mirror"}, headers=app.admin.headers
        )
        folder_id = folder.json()["id"]
        job_id = await _sync_job(app, folder_id)
        await app.client.post(f"/api/jobs/{job_id}/_run", headers=app.admin.headers)
        (first,) = await _finished_runs(app, job_id, 1)
        assert first["counts"]["added"] == 2 and first["status"] == "done"
        before = await _mirrored(app, folder_id)

        (source / "a.md").write_bytes(samples.markdown_file([("A", ["Alpha text, revised."])]))
        (source / "b.txt").unlink()
        (source / "c.txt").write_bytes(b"Charlie arrives late.")
        await app.client.post(f"/api/jobs/{job_id}/_run", headers=app.admin.headers)
        runs = await _finished_runs(app, job_id, 2)
        counts = runs[0]["counts"]
        assert (counts["added"], counts["changed"], counts["deleted"]) == (1, 1, 1)
        after = await _mirrored(app, folder_id)
        assert set(after) == {"a.md", "c.txt"}
        assert after["a.md"] != before["a.md"]

        escaping = await app.client.post(
            "/api/jobs",
            json={
                "name": "x",
                "type": "library-sync",
                "params": {"path": "../..", "folderId": folder_id},
            },
            headers=app.admin.headers,
        )
        escape_id = escaping.json()["id"]
        await app.client.post(f"/api/jobs/{escape_id}/_run", headers=app.admin.headers)
        (refused,) = await _finished_runs(app, escape_id, 1)
        assert refused["status"] == "failed" and "sync root" in refused["error"]
        assert refused["errorCode"] == refused["steps"][0]["errorCode"] == "invalid_job"


async def test_two_concurrent_runs_of_a_job_start_it_once(make_harness: Harnesses) -> None:
    async with knowledge_app(make_harness) as app:
        folder = await app.client.post(
            "/api/library/folders", json={"name": "F"}, headers=app.admin.headers
        )
        folder_id = folder.json()["id"]
        rows = await upload(
            app, app.admin, {"n.txt": b"Some notes about herons."}, folderId=folder_id
        )
        await wait_settled(app, app.admin, [r["id"] for r in rows])
        created = await app.client.post(
            "/api/jobs",
            json={
                "name": "reindex",
                "type": "index-files",
                "params": {"folderId": folder_id},
                "schedule": "0 3 * * *",
                "timeZone": "Europe/Paris",
            },
            headers=app.admin.headers,
        )
        job = created.json()
        assert job["nextRunAt"] is not None
        first, second = await asyncio.gather(
            app.client.post(f"/api/jobs/{job['id']}/_run", headers=app.admin.headers),
            app.client.post(f"/api/jobs/{job['id']}/_run", headers=app.admin.headers),
        )
        assert sorted([first.status_code, second.status_code]) == [202, 409]
        (run,) = await _finished_runs(app, job["id"], 1)
        assert run["status"] == "done" and run["counts"] == {"files": 1, "indexed": 1, "failed": 0}
        bad = await app.client.post(
            "/api/jobs",
            json={"name": "x", "type": "index-files", "params": {}, "schedule": "not cron"},
            headers=app.admin.headers,
        )
        assert bad.status_code == 422


async def test_indexing_interrupted_by_a_restart_is_taken_up_again(make_harness: Harnesses) -> None:
    paragraphs = [
        f"Paragraph {n} speaks of rivers, ferries and tide tables." * 6 for n in range(600)
    ]
    big = samples.text_file(paragraphs)
    same_database = fresh_database_url()  # both starts use one database ("" = the SQLite file)
    async with knowledge_app(make_harness, database_url=same_database) as app:
        database_url = app.services.settings.resolved_database_url
        (row,) = await upload(app, app.admin, {"long.txt": big})

        async def partly_indexed() -> bool:
            current = await app.client.get(
                f"/api/library/files/{row['id']}", headers=app.admin.headers
            )
            assert current.json()["status"] != "indexed", "indexing ended before the restart"
            return current.json()["status"] == "indexing" and current.json()["chunksIndexed"] > 0

        await eventually(partly_indexed, seconds=30, interval=0.05)
    engine = database.create_engine(database_url)
    try:
        async with engine.connect() as connection:
            status = await connection.scalar(
                text("SELECT status FROM knowledge_file WHERE id = :id"), {"id": row["id"]}
            )
    finally:
        await engine.dispose()
    assert status == "pending"  # handed back at shutdown
    async with knowledge_app(make_harness, database_url=same_database) as app:
        settled = await wait_settled(app, app.admin, [row["id"]], deadline=90)
        assert settled[row["id"]]["status"] == "indexed"
        assert settled[row["id"]]["chunkCount"] == settled[row["id"]]["chunksIndexed"] > 100


async def test_another_users_job_is_404_on_every_route_and_stays_unchanged(
    harness: AppHarness,
) -> None:
    folder = await harness.client.post(
        "/api/library/folders", json={"name": "Jobs"}, headers=harness.admin.headers
    )
    params = {"folderId": folder.json()["id"]}
    created = await harness.client.post(
        "/api/jobs",
        json={"name": "mine", "type": "index-files", "params": params},
        headers=harness.admin.headers,
    )
    assert created.status_code == 201, created.text
    path = f"/api/jobs/{created.json()['id']}"
    outsider = await harness.member("jobs-outsider")
    attempts = [
        ("GET", path, None),
        ("PATCH", path, {"name": "taken"}),
        ("POST", path + "/_run", None),
        ("GET", path + "/runs", None),
        ("DELETE", path, None),
    ]
    for method, url, body in attempts:
        refused = await harness.client.request(method, url, json=body, headers=outsider.headers)
        assert refused.status_code == 404, (method, url, refused.text)
        assert refused.json()["code"] == "job_not_found", (method, url)

    mine = await harness.client.get(path, headers=harness.admin.headers)
    assert mine.json()["name"] == "mine"
    runs = await harness.client.get(path + "/runs", headers=harness.admin.headers)
    assert runs.json()["total"] == 0
