"""Helpers for knowledge tests through the API: an app with the real model, uploads, polling."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any

from knowledge.index import VectorIndex
from tests.knowledge.conftest import MODEL_CACHE
from tests.support import AppHarness, Caller, Harnesses, eventually

DEADLINE_SECONDS = 60.0


def knowledge_app(harnesses: Harnesses, **settings: Any) -> AbstractAsyncContextManager[AppHarness]:
    """The app with the real embedding model (ONNX, exported once into the shared test cache)."""
    values: dict[str, Any] = {
        "embedding_backend": "onnx",
        "embedding_cache_dir": MODEL_CACHE,
        "max_parse_seconds": 10.0,
        **settings,
    }
    return harnesses.running(**values)


async def upload(
    harness: AppHarness, caller: Caller, files: dict[str, bytes], **form: str
) -> list[dict[str, Any]]:
    """Upload files; returns their resources."""
    parts = [("files", (name, data)) for name, data in files.items()]
    response = await harness.client.post(
        "/api/library/files", files=parts, data=form, headers=caller.headers
    )
    assert response.status_code == 201, response.text
    items: list[dict[str, Any]] = response.json()["_embedded"]["files"]
    return items


async def wait_settled(
    harness: AppHarness, caller: Caller, file_ids: list[str], deadline: float = DEADLINE_SECONDS
) -> dict[str, dict[str, Any]]:
    """Poll until every file is indexed or failed; returns them by id."""

    async def settled() -> dict[str, dict[str, Any]]:
        found = {}
        for file_id in file_ids:
            response = await harness.client.get(
                f"/api/library/files/{file_id}", headers=caller.headers
            )
            assert response.status_code == 200, response.text
            found[file_id] = response.json()
        statuses = {k: v["status"] for k, v in found.items()}
        assert all(s in {"indexed", "failed"} for s in statuses.values()), statuses
        return found

    return await eventually(settled, seconds=deadline, interval=0.2)


async def index_of(harness: AppHarness) -> VectorIndex:
    """The app's vector index (opened if it was not yet)."""
    return await asyncio.to_thread(lambda: harness.services.knowledge.store.ready()[0])


async def chunk_texts(harness: AppHarness, file_id: str) -> list[str]:
    """The texts of a file's chunks as the admin lists them (its live version's first page)."""
    response = await harness.client.get(
        f"/api/library/files/{file_id}/chunks", headers=harness.admin.headers
    )
    assert response.status_code == 200, response.text
    return [chunk["text"] for chunk in response.json()["_embedded"]["chunks"]]


async def search(harness: AppHarness, caller: Caller, **body: Any) -> list[dict[str, Any]]:
    """POST /api/knowledge/search; returns the passages."""
    response = await harness.client.post("/api/knowledge/search", json=body, headers=caller.headers)
    assert response.status_code == 200, response.text
    passages: list[dict[str, Any]] = response.json()["_embedded"]["passages"]
    return passages


async def run_sync(harness: AppHarness, job_id: str, runs: int) -> str:
    """Run a library-sync job (its `runs`-th run) until done; returns the id of the one file it
    mirrors (whose indexing may still go on)."""
    await harness.client.post(f"/api/jobs/{job_id}/_run", headers=harness.admin.headers)

    async def finished() -> list[dict[str, Any]]:
        response = await harness.client.get(
            f"/api/jobs/{job_id}/runs", headers=harness.admin.headers
        )
        found: list[dict[str, Any]] = response.json()["_embedded"]["runs"]
        assert len(found) >= runs and all(run["status"] != "running" for run in found), found
        return found

    done: list[dict[str, Any]] = await eventually(finished, seconds=60, interval=0.2)
    assert done[0]["status"] == "done", done
    listed = await harness.client.get("/api/library/files", headers=harness.admin.headers)
    [item] = listed.json()["_embedded"]["files"]
    return str(item["id"])
