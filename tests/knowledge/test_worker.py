"""The indexing worker re-indexes a changed file embedding (and billing) only its changed chunks,
and keeps the previous version when embedding fails (through the API, a library-sync job and an
embedding model behind the fake upstream, whose requests count the texts embedded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.upstream import EMBEDDING_DIMENSION, FakeUpstream
from tests.knowledge import samples
from tests.knowledge.apps import run_sync, wait_settled
from tests.support import AppHarness, Harnesses, make_catalog

pytestmark = pytest.mark.anyio

PRICE = {"input_cost_per_token": 1e-6, "output_cost_per_token": 0.0}
SECTIONS = [
    ("Cranes", ["The quayside crane QX-4471 lifts containers from the barge."]),
    ("Weather", ["Fog delays the ferry to the lighthouse island every November."]),
    ("Tides", ["Spring tides flood the lower quay twice a month."]),
]


def _embedded_texts(upstream: FakeUpstream) -> list[str]:
    with upstream.recorder.lock:
        bodies = [body for body in upstream.recorder.requests if "input" in body]
    texts: list[str] = []
    for body in bodies:
        given = body["input"]
        texts.extend(given if isinstance(given, list) else [given])
    return texts


async def _sync(app: AppHarness, job_id: str, runs: int) -> str:
    """Run the library-sync job; returns the mirrored file's id once it settled."""
    file_id = await run_sync(app, job_id, runs)
    await wait_settled(app, app.admin, [file_id])
    return file_id


async def _chunks(app: AppHarness, file_id: str) -> list[str]:
    response = await app.client.get(
        f"/api/library/files/{file_id}/chunks", headers=app.admin.headers
    )
    assert response.status_code == 200, response.text
    return [chunk["text"] for chunk in response.json()["_embedded"]["chunks"]]


async def test_a_synced_edit_embeds_only_its_changed_section_and_a_failure_keeps_the_old_one(
    tmp_path: Path, upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    source = tmp_path / "sync" / "docs"
    source.mkdir(parents=True)
    (source / "harbour.md").write_bytes(samples.markdown_file(SECTIONS))
    catalog = make_catalog(
        upstream.base_url, embed={"output_vector_size": EMBEDDING_DIMENSION, **PRICE}
    )
    async with make_harness.running(
        catalog=catalog,
        embedding_backend="litellm",
        embedding_model="embed",
        library_sync_root=tmp_path / "sync",
    ) as app:
        folder = await app.client.post(
            "/api/library/folders", json={"name": "Mirror"}, headers=app.admin.headers
        )
        params = {"path": "docs", "folderId": folder.json()["id"]}
        created = await app.client.post(
            "/api/jobs",
            json={"name": "mirror", "type": "library-sync", "params": params},
            headers=app.admin.headers,
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        file_id = await _sync(app, job_id, 1)
        first = _embedded_texts(upstream)
        assert len(first) == len(await _chunks(app, file_id)) >= len(SECTIONS)

        edited = [SECTIONS[0], ("Weather", ["Storms close the harbour in January."]), SECTIONS[2]]
        (source / "harbour.md").write_bytes(samples.markdown_file(edited))
        await _sync(app, job_id, 2)
        again = _embedded_texts(upstream)[len(first) :]
        assert len(again) == 1 and "Storms close the harbour" in again[0], again
        assert any("Storms" in text for text in await _chunks(app, file_id))

        reindexed = await app.client.post(
            f"/api/library/files/{file_id}/_reindex", headers=app.admin.headers
        )
        assert reindexed.status_code == 202, reindexed.text
        settled = (await wait_settled(app, app.admin, [file_id]))[file_id]
        assert settled["status"] == "indexed", settled
        assert len(_embedded_texts(upstream)) == len(first) + 1  # unchanged: nothing embedded

        upstream.behave("embed", fail_status=500)
        broken = [SECTIONS[0], ("Weather", ["Hail dents the containers."]), SECTIONS[2]]
        (source / "harbour.md").write_bytes(samples.markdown_file(broken))
        await _sync(app, job_id, 3)
        failed = (await wait_settled(app, app.admin, [file_id]))[file_id]
        assert failed["status"] == "failed", failed
        kept = await _chunks(app, file_id)
        assert any("Storms" in text for text in kept) and not any("Hail" in t for t in kept)
