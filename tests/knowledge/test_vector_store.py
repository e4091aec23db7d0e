"""Which vector store the app serves knowledge from: the server path (qdrant-client, here in its
local mode through a `file://` SWITCHBOARD_QDRANT_URL) end to end, and several workers with no
Qdrant server answering 503 while the rest of the app works."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.knowledge.apps import knowledge_app, search, upload, wait_settled
from tests.support import Harnesses

pytestmark = pytest.mark.anyio

NOTES = (
    b"# Observatory\n\nThe telescope dome ZK-2290 opens at dusk when the sky is clear.\n\n"
    b"## Kitchen\n\nThe bakery ovens warm sourdough loaves before sunrise.\n"
)


async def test_files_are_indexed_searched_and_deleted_through_the_qdrant_server_path(
    tmp_path: Path, make_harness: Harnesses
) -> None:
    location = tmp_path / "qdrant-local"
    async with knowledge_app(make_harness, qdrant_url=f"file://{location}") as harness:
        admin = harness.admin
        [item] = await upload(harness, admin, {"observatory.md": NOTES})
        settled = (await wait_settled(harness, admin, [item["id"]]))[item["id"]]
        assert settled["status"] == "indexed", settled
        passages = await search(harness, admin, query="when does the telescope dome open?")
        assert passages and passages[0]["citation"]["fileId"] == item["id"], passages
        assert "ZK-2290" in (await search(harness, admin, query="ZK-2290"))[0]["text"]
        deleted = await harness.client.delete(
            f"/api/library/files/{item['id']}", headers=admin.headers
        )
        assert deleted.status_code == 204, deleted.text
        assert await search(harness, admin, query="telescope dome ZK-2290") == []
    assert location.is_dir()  # the local-mode folder, not the embedded Edge store, held the index
    assert not (tmp_path / "data" / "qdrant-edge").exists()


async def test_several_workers_without_a_qdrant_server_answer_503_naming_the_setting(
    make_harness: Harnesses,
) -> None:
    async with make_harness.running(workers=2, embedding_backend="hash") as harness:
        admin = harness.admin
        response = await harness.client.post(
            "/api/knowledge/search", json={"query": "anything"}, headers=admin.headers
        )
        assert response.status_code == 503, response.text
        error = response.json()
        assert error["code"] == "vector_store_unavailable"
        assert "SWITCHBOARD_QDRANT_URL" in error["message"]
        health = await harness.client.get("/api/me", headers=admin.headers)
        assert health.status_code == 200, health.text  # the rest of the app keeps working
