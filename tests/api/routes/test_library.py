"""The library through the API: uploads of every type indexed, searched, cited, reindexed, deleted;
tenants kept apart; bombs failing fast while the server answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.knowledge import samples
from tests.knowledge.apps import knowledge_app, search, upload, wait_settled
from tests.support import AppHarness, Harnesses, eventually

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def app(make_module_harness: Harnesses) -> AsyncIterator[AppHarness]:
    async with knowledge_app(make_module_harness, max_upload_bytes=4 << 20) as harness:
        yield harness


def _corpus() -> dict[str, bytes]:
    return {
        "guide.md": samples.markdown_file(
            [("Billing", ["Invoices are sent on the first working day. Code QX-7781 marks them."])]
        ),
        "report.docx": samples.docx_file(
            [("Volcanoes", ["The crater lake of Mount Ixtla glows turquoise at dawn."])]
        ),
        "manual.pdf": samples.pdf_file(
            [("Pumps", ["Pump model HV-2290 must be primed before starting."])]
        ),
        "prices.csv": samples.csv_file([["item", "price"], ["walrus feed", "17"]]),
        "page.html": samples.html_file([("Gardens", ["Rhubarb thrives in cold damp soil."])]),
        "data.json": samples.json_file({"station": "Bellweather", "altitude": 3120}),
    }


async def test_uploaded_files_of_every_type_are_indexed_and_found_with_citations(
    app: AppHarness,
) -> None:
    folder = await app.client.post(
        "/api/library/folders", json={"name": "Mixed"}, headers=app.admin.headers
    )
    files = await upload(app, app.admin, _corpus(), folderId=folder.json()["id"])
    assert {f["fileType"] for f in files} == {"markdown", "docx", "pdf", "csv", "html", "json"}
    settled = await wait_settled(app, app.admin, [f["id"] for f in files])
    assert {f["status"] for f in settled.values()} == {"indexed"}, settled
    assert all(f["progress"] == 1.0 and f["chunkCount"] > 0 for f in settled.values())

    hits = await search(app, app.admin, query="pump HV-2290 priming")
    assert hits[0]["citation"]["fileName"] == "manual.pdf"
    assert hits[0]["citation"]["page"] == 1
    assert "HV-2290" in hits[0]["citation"]["snippet"]
    by_folder = await search(app, app.admin, query="rhubarb soil", folderIds=[folder.json()["id"]])
    assert by_folder[0]["citation"]["fileName"] == "page.html"

    pdf = next(f for f in files if f["name"] == "manual.pdf")
    chunks = await app.client.get(pdf["_links"]["chunks"]["href"], headers=app.admin.headers)
    assert chunks.status_code == 200
    assert any("HV-2290" in c["text"] for c in chunks.json()["_embedded"]["chunks"])
    content = await app.client.get(pdf["_links"]["content"]["href"], headers=app.admin.headers)
    assert content.content == _corpus()["manual.pdf"]
    assert content.headers["content-disposition"].startswith("attachment;")
    assert content.headers["x-content-type-options"] == "nosniff"
    listed = await app.client.get(
        "/api/library/files", params={"type": "pdf"}, headers=app.admin.headers
    )
    assert [f["name"] for f in listed.json()["_embedded"]["files"]] == ["manual.pdf"]


async def test_reindexing_a_file_indexes_it_again_and_deleting_it_removes_its_vectors(
    app: AppHarness,
) -> None:
    text = samples.text_file(["The lighthouse keeper's password is OCTOPUS-515."])
    (row,) = await upload(app, app.admin, {"keeper.txt": text})
    await wait_settled(app, app.admin, [row["id"]])
    again = await app.client.post(
        f"/api/library/files/{row['id']}/_reindex", headers=app.admin.headers
    )
    assert again.status_code == 202 and again.json()["status"] == "pending"
    settled = await wait_settled(app, app.admin, [row["id"]])
    assert settled[row["id"]]["status"] == "indexed"
    store = app.services.knowledge.store
    assert store.index().count(file_id=row["id"]) > 0

    deleted = await app.client.delete(f"/api/library/files/{row['id']}", headers=app.admin.headers)
    assert deleted.status_code == 204
    assert store.index().count(file_id=row["id"]) == 0
    hits = await search(app, app.admin, query="OCTOPUS-515 lighthouse password")
    assert all(h["citation"]["fileId"] != row["id"] for h in hits)
    gone = await app.client.get(f"/api/library/files/{row['id']}", headers=app.admin.headers)
    assert gone.status_code == 404


async def test_the_server_optimises_its_index_once_a_batch_of_files_is_indexed(
    app: AppHarness,
) -> None:
    worker = app.services.knowledge.worker
    before = worker.optimizations
    texts = {
        f"batch-{n}.txt": samples.text_file([f"Ferry timetable {n} for pier P-{n}."])
        for n in range(3)
    }
    rows = await upload(app, app.admin, texts)
    await wait_settled(app, app.admin, [row["id"] for row in rows])
    await eventually(lambda: worker.optimizations > before, seconds=30)
    hits = await search(app, app.admin, query="ferry timetable pier P-2")
    assert hits[0]["citation"]["fileName"] == "batch-2.txt"


async def test_two_teams_never_see_each_others_files_or_passages(app: AppHarness) -> None:
    members = {}
    for team in ("red", "blue"):
        created = await app.client.post(
            "/api/teams", json={"name": f"team-{team}"}, headers=app.admin.headers
        )
        member = await app.member(f"{team}-user")
        await app.client.post(
            f"/api/teams/{created.json()['id']}/members",
            json={"userId": member.id},
            headers=app.admin.headers,
        )
        members[team] = (created.json()["id"], await app.caller_for(f"{team}-user"))
    uploaded = {}
    for team, (team_id, caller) in members.items():
        canary = f"The {team} canary phrase is {team.upper()}-SECRET-90{len(team)}."
        (row,) = await upload(app, caller, {f"{team}.txt": canary.encode()}, teamId=team_id)
        uploaded[team] = row
    await wait_settled(app, members["red"][1], [uploaded["red"]["id"]])
    await wait_settled(app, members["blue"][1], [uploaded["blue"]["id"]])

    red = members["red"][1]
    hits = await search(app, red, query="blue canary phrase BLUE-SECRET-904", limit=20)
    assert hits and all(h["citation"]["fileId"] == uploaded["red"]["id"] for h in hits)
    foreign = uploaded["blue"]["id"]
    for path in (f"/api/library/files/{foreign}", f"/api/library/files/{foreign}/content"):
        assert (await app.client.get(path, headers=red.headers)).status_code == 404
    scoped = await app.client.post(
        "/api/knowledge/search", json={"query": "canary", "fileIds": [foreign]}, headers=red.headers
    )
    assert scoped.status_code == 404
    other_team = await app.client.post(
        "/api/library/files",
        files=[("files", ("x.txt", b"hello there"))],
        data={"teamId": members["blue"][0]},
        headers=red.headers,
    )
    assert other_team.status_code == 404


async def test_a_zip_bomb_docx_and_a_pdf_bomb_fail_within_seconds_while_the_server_answers(
    app: AppHarness,
) -> None:
    bombs = {
        "bomb.docx": samples.docx_bomb(300 * 1024 * 1024),
        "bomb.pdf": samples.pdf_bomb(300 * 1024 * 1024),
    }
    started = time.monotonic()
    rows = await upload(app, app.admin, bombs)
    health = await asyncio.wait_for(app.client.get("/api/health"), timeout=2)
    assert health.status_code == 200
    settled = await wait_settled(app, app.admin, [r["id"] for r in rows], deadline=20)
    assert time.monotonic() - started < 20
    assert {f["errorCode"] for f in settled.values()} == {"decompression_bomb"}
    assert {f["status"] for f in settled.values()} == {"failed"}


async def test_an_upload_over_the_size_limit_or_of_an_unknown_type_is_refused(
    app: AppHarness, tmp_path: Path
) -> None:
    too_big = b"a" * (app.services.settings.max_upload_bytes + 1)
    refused = await app.client.post(
        "/api/library/files", files=[("files", ("big.txt", too_big))], headers=app.admin.headers
    )
    assert refused.status_code == 413
    assert refused.json()["code"] == "file_too_large"
    binary = await app.client.post(
        "/api/library/files",
        files=[("files", ("x.txt", b"\x7fELF\x00\x01binary"))],
        headers=app.admin.headers,
    )
    assert binary.status_code == 422
    assert binary.json()["code"] == "unsupported_file_type"


async def test_another_users_file_and_folder_are_404_on_every_route_and_stay_unchanged(
    app: AppHarness,
) -> None:
    folder = await app.client.post(
        "/api/library/folders", json={"name": "Private"}, headers=app.admin.headers
    )
    folder_id = folder.json()["id"]
    (row,) = await upload(app, app.admin, {"private.txt": b"Mine alone."}, folderId=folder_id)
    outsider = await app.member("library-outsider")
    file_path, folder_path = f"/api/library/files/{row['id']}", f"/api/library/folders/{folder_id}"
    attempts = [
        ("GET", file_path, None, "file_not_found"),
        ("PATCH", file_path, {"name": "taken.txt"}, "file_not_found"),
        ("GET", file_path + "/content", None, "file_not_found"),
        ("GET", file_path + "/chunks", None, "file_not_found"),
        ("POST", file_path + "/_reindex", None, "file_not_found"),
        ("DELETE", file_path, None, "file_not_found"),
        ("GET", folder_path, None, "folder_not_found"),
        ("PATCH", folder_path, {"name": "Taken"}, "folder_not_found"),
        ("DELETE", folder_path, None, "folder_not_found"),
    ]
    for method, path, body, code in attempts:
        refused = await app.client.request(method, path, json=body, headers=outsider.headers)
        assert refused.status_code == 404, (method, path, refused.text)
        assert refused.json()["code"] == code, (method, path)

    mine = await app.client.get(file_path, headers=app.admin.headers)
    assert mine.json()["name"] == "private.txt"
    folder_now = await app.client.get(folder_path, headers=app.admin.headers)
    assert folder_now.json()["name"] == "Private"
