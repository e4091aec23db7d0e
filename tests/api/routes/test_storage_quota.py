"""The storage quota: one user's chat attachments and library uploads together stay under
`max_storage_bytes_per_user`; an upload that would pass it is refused whole, before anything is
stored; usage is shown to the user and to admins, and freed by deleting files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, inspect, select, text

from api import stored_bytes
from assistant import storage_quota
from assistant.attachments.models import ChatAttachment
from core.database import write_transaction
from core.ids import new_id
from knowledge import library
from knowledge.index import TenantScope
from knowledge.models import LibraryFile
from knowledge.storage import content_key
from tests.support import AppHarness, Caller, Harnesses, eventually

pytestmark = pytest.mark.anyio
LIMIT = 1000
# 600 bytes of plain text: one fits the limit, two do not.
TEXT = (b"The quick brown fox jumps over the lazy dog. " * 14)[:600]


@pytest.fixture(scope="module")
def sync_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sync")


@pytest.fixture(scope="module")
async def app(make_module_harness: Harnesses, sync_root: Path) -> AsyncIterator[AppHarness]:
    async with make_module_harness.running(
        max_storage_bytes_per_user=LIMIT, embedding_backend="hash", library_sync_root=sync_root
    ) as harness:
        yield harness


async def _attach(app: AppHarness, caller: Caller, chat_id: str, data: bytes) -> Any:
    return await app.client.post(
        f"/api/chats/{chat_id}/attachments",
        files=[("files", ("notes.txt", data))],
        headers=caller.headers,
    )


async def _to_library(app: AppHarness, caller: Caller, data: bytes) -> Any:
    return await app.client.post(
        "/api/library/files", files=[("files", ("notes.txt", data))], headers=caller.headers
    )


async def _storage(app: AppHarness, caller: Caller) -> dict[str, Any]:
    response = await app.client.get("/api/users/me/storage", headers=caller.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _rows(app: AppHarness, caller: Caller) -> tuple[int, int]:
    """The caller's attachment and library file rows in the database."""
    async with app.services.sessions() as session:
        attachments = await session.scalar(
            select(func.count()).where(ChatAttachment.user_id == caller.id)
        )
        files = await session.scalar(
            select(func.count()).where(LibraryFile.created_by == caller.id)
        )
    return int(attachments or 0), int(files or 0)


def _files_under(root: Path) -> int:
    return sum(1 for path in root.rglob("*") if path.is_file()) if root.exists() else 0


def _refused(response: Any, used: int) -> None:
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["code"] == "storage_quota_exceeded"
    assert body["details"] == {"used": used, "upload": len(TEXT), "limit": LIMIT}
    assert "1000 bytes" in body["message"] and "Delete" in body["message"]
    assert "admin" in body["message"]


async def test_an_attachment_that_would_pass_the_quota_is_refused_and_nothing_is_stored(
    app: AppHarness,
) -> None:
    caller = await app.member("quota-attacher")
    chat_id = await app.chat(caller)
    first = await _attach(app, caller, chat_id, TEXT)
    assert first.status_code == 201, first.text
    folder = app.services.chat.attachments
    assert folder is not None
    assert _files_under(folder.root / chat_id) == 1
    refused = await _attach(app, caller, chat_id, TEXT.replace(b"fox", b"cat"))
    _refused(refused, used=len(TEXT))
    assert _files_under(folder.root / chat_id) == 1
    assert await _rows(app, caller) == (1, 0)
    listed = await app.client.get(f"/api/chats/{chat_id}/attachments", headers=caller.headers)
    assert listed.json()["total"] == 1


async def test_a_library_file_that_would_pass_the_quota_is_refused_and_nothing_is_stored(
    app: AppHarness,
) -> None:
    caller = await app.member("quota-librarian")
    chat_id = await app.chat(caller)
    assert (await _attach(app, caller, chat_id, TEXT)).status_code == 201
    library = app.services.knowledge.storage.root
    before = _files_under(library)
    refused = await _to_library(app, caller, TEXT.replace(b"dog", b"cow"))
    _refused(refused, used=len(TEXT))
    assert _files_under(library) == before
    assert await _rows(app, caller) == (1, 0)


async def test_usage_is_shown_split_by_kind_and_deleting_files_frees_it(app: AppHarness) -> None:
    caller = await app.member("quota-deleter")
    chat_id = await app.chat(caller)
    empty = await _storage(app, caller)
    assert (empty["usedBytes"], empty["limitBytes"], empty["remainingBytes"]) == (0, LIMIT, LIMIT)
    attached = await _attach(app, caller, chat_id, TEXT[:300])
    filed = await _to_library(app, caller, TEXT[:400])
    assert attached.status_code == filed.status_code == 201, (attached.text, filed.text)
    shown = await _storage(app, caller)
    assert shown["_links"]["self"]["href"] == "/api/users/me/storage"
    assert (shown["attachmentBytes"], shown["libraryBytes"], shown["usedBytes"]) == (300, 400, 700)
    assert (shown["remainingBytes"], shown["userId"]) == (300, caller.id)
    _refused(await _attach(app, caller, chat_id, TEXT), used=700)
    attachment_id = attached.json()["_embedded"]["attachments"][0]["id"]
    gone = await app.client.delete(
        f"/api/chats/{chat_id}/attachments/{attachment_id}", headers=caller.headers
    )
    assert gone.status_code == 204
    assert (await _storage(app, caller))["usedBytes"] == 400
    file_id = filed.json()["_embedded"]["files"][0]["id"]
    gone = await app.client.delete(f"/api/library/files/{file_id}", headers=caller.headers)
    assert gone.status_code == 204
    assert (await _storage(app, caller))["usedBytes"] == 0
    assert (await _attach(app, caller, chat_id, TEXT)).status_code == 201


async def test_another_users_files_do_not_count_against_you(app: AppHarness) -> None:
    owner, other = await app.member("quota-owner"), await app.member("quota-other")
    assert (await _to_library(app, owner, TEXT)).status_code == 201
    assert (await _storage(app, other))["usedBytes"] == 0
    uploaded = await _to_library(app, other, TEXT.replace(b"quick", b"rapid"))
    assert uploaded.status_code == 201, uploaded.text
    assert (await _storage(app, owner))["usedBytes"] == len(TEXT)


async def test_a_team_upload_counts_toward_the_uploader_while_they_are_in_the_team(
    app: AppHarness,
) -> None:
    team = await app.client.post("/api/teams", json={"name": "quota"}, headers=app.admin.headers)
    team_id = team.json()["id"]
    for name in ("quota-teammate-a", "quota-teammate-b"):
        member = await app.member(name)
        added = await app.client.post(
            f"/api/teams/{team_id}/members",
            json={"userId": member.id},
            headers=app.admin.headers,
        )
        assert added.status_code == 201, added.text
    uploader = await app.caller_for("quota-teammate-a")
    teammate = await app.caller_for("quota-teammate-b")
    parts = [("files", ("team.txt", TEXT))]
    shared = await app.client.post(
        "/api/library/files", files=parts, data={"teamId": team_id}, headers=uploader.headers
    )
    assert shared.status_code == 201, shared.text
    assert (await _storage(app, uploader))["libraryBytes"] == len(TEXT)
    assert (await _storage(app, teammate))["usedBytes"] == 0
    _refused(await _to_library(app, uploader, TEXT.replace(b"brown", b"black")), used=len(TEXT))


async def test_files_uploaded_to_an_assistant_count_toward_its_owner(app: AppHarness) -> None:
    owner, editor = await app.member("quota-assistant-owner"), await app.member("quota-editor")
    body = {"name": "Shared", "visibility": "instance", "permission": "edit"}
    created = await app.client.post("/api/assistants", json=body, headers=owner.headers)
    assert created.status_code == 201, created.text
    files = f"/api/assistants/{created.json()['id']}/files"

    async def to_assistant(data: bytes) -> Any:
        parts = [("files", ("notes.txt", data))]
        return await app.client.post(files, files=parts, headers=editor.headers)

    assert (await to_assistant(TEXT)).status_code == 201
    assert (await _storage(app, owner))["libraryBytes"] == len(TEXT)
    assert (await _storage(app, editor))["usedBytes"] == 0
    refused = await to_assistant(TEXT.replace(b"jumps", b"leaps"))
    assert refused.status_code == 413, refused.text
    body = refused.json()
    assert body["details"] == {"used": len(TEXT), "upload": len(TEXT), "limit": LIMIT}
    # The editor is told whose storage is full (not theirs) and whom to ask.
    message = body["message"]
    assert "the storage of quota-assistant-owner" in message, message
    assert "not yours" in message and "ask quota-assistant-owner to delete" in message
    assert "your stored files" not in message


async def test_a_branch_whose_copied_attachments_would_pass_the_quota_is_refused(
    app: AppHarness,
) -> None:
    caller = (
        app.admin
    )  # seated: it may send a message (no other test here stores the admin's files)
    chat_id = await app.chat(caller)
    attached = await _attach(app, caller, chat_id, TEXT[:400])
    assert attached.status_code == 201, attached.text
    attachment_id = attached.json()["_embedded"]["attachments"][0]["id"]
    sent = await app.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "Read this.", "attachmentIds": [attachment_id]},
        headers=caller.headers,
    )
    assert sent.status_code == 201, sent.text
    fork = f"/api/chats/{chat_id}/messages/{sent.json()['id']}/_fork"
    first = await app.client.post(fork, headers=caller.headers)
    assert first.status_code == 201, first.text
    assert (await _storage(app, caller))["attachmentBytes"] == 800
    folder = app.services.chat.attachments
    assert folder is not None
    folders = {path.name for path in folder.root.iterdir()}
    refused = await app.client.post(fork, headers=caller.headers)
    assert refused.status_code == 413, refused.text
    assert refused.json()["code"] == "storage_quota_exceeded"
    assert refused.json()["details"] == {"used": 800, "upload": 400, "limit": LIMIT}
    assert {path.name for path in folder.root.iterdir()} == folders
    chats = await app.client.get("/api/chats", headers=caller.headers)
    assert chats.json()["total"] == 2
    assert await _rows(app, caller) == (2, 0)


async def test_an_admin_sees_a_users_usage_and_a_member_cannot(app: AppHarness) -> None:
    caller = await app.member("quota-watched")
    assert (await _to_library(app, caller, TEXT)).status_code == 201
    seen = await app.client.get(f"/api/users/{caller.id}/storage", headers=app.admin.headers)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert (body["userId"], body["usedBytes"], body["libraryBytes"]) == (caller.id, 600, 600)
    assert body["_links"]["self"]["href"] == f"/api/users/{caller.id}/storage"
    denied = await app.client.get(f"/api/users/{app.admin.id}/storage", headers=caller.headers)
    assert denied.status_code == 403
    missing = await app.client.get("/api/users/nobody/storage", headers=app.admin.headers)
    assert missing.status_code == 404


async def test_an_admin_lists_every_users_storage_paged_as_users_are(app: AppHarness) -> None:
    caller = await app.member("quota-listed")
    assert (await _to_library(app, caller, TEXT.replace(b"fox", b"emu"))).status_code == 201
    set_own = await app.client.put(
        f"/api/users/{caller.id}/storage", json={"limitBytes": 5000}, headers=app.admin.headers
    )
    assert set_own.status_code == 200, set_own.text
    listed = await app.client.get(
        "/api/users/storage", params={"q": "quota-listed"}, headers=app.admin.headers
    )
    assert listed.status_code == 200, listed.text
    (shown,) = listed.json()["_embedded"]["storage"]
    single = await app.client.get(f"/api/users/{caller.id}/storage", headers=app.admin.headers)
    assert shown == {**single.json(), "username": "quota-listed", "_links": shown["_links"]}
    assert (shown["usedBytes"], shown["limitBytes"], shown["ownLimitBytes"]) == (600, 5000, 5000)
    assert shown["_links"]["user"]["href"] == f"/api/users/{caller.id}"
    every = await app.client.get(
        "/api/users/storage", params={"limit": 2, "sort": "username"}, headers=app.admin.headers
    )
    users = await app.client.get(
        "/api/users", params={"limit": 2, "sort": "username"}, headers=app.admin.headers
    )
    assert [u["userId"] for u in every.json()["_embedded"]["storage"]] == [
        u["id"] for u in users.json()["_embedded"]["users"]
    ]
    assert every.json()["total"] == users.json()["total"]
    denied = await app.client.get("/api/users/storage", headers=caller.headers)
    assert denied.status_code == 403


async def _upload(app: AppHarness, caller: Caller, chat_id: str, kind: str, data: bytes) -> Any:
    if kind == "library":
        return await _to_library(app, caller, data)
    return await _attach(app, caller, chat_id, data)


async def test_uploads_racing_past_the_quota_store_only_what_fits(app: AppHarness) -> None:
    # Four uploads of 400 bytes at once against 1000: two fit. Without the quota lock, three or
    # four of them pass on PostgreSQL.
    for kinds in ("library",) * 4, ("attachment",) * 4, ("attachment", "library") * 2:
        caller = await app.member("quota-racer-" + "-".join(kinds))
        chat_id = await app.chat(caller)
        texts = [TEXT[:400].replace(b"fox", f"fox{n}".encode())[:400] for n in range(4)]
        answers = await asyncio.gather(
            *(
                _upload(app, caller, chat_id, kind, text)
                for kind, text in zip(kinds, texts, strict=True)
            )
        )
        statuses = sorted(response.status_code for response in answers)
        assert statuses == [201, 201, 413, 413], (kinds, [response.text for response in answers])
        assert sum(await _rows(app, caller)) == 2
        assert (await _storage(app, caller))["usedBytes"] == 800


async def test_the_same_content_counts_once_in_the_library_and_once_per_chat(
    app: AppHarness,
) -> None:
    # Library bytes are stored once per content (by SHA-256), attachments once per chat folder.
    caller = await app.member("quota-twice")
    assert (await _to_library(app, caller, TEXT)).status_code == 201
    again = await _to_library(app, caller, TEXT)
    assert again.status_code == 201, again.text
    shown = await _storage(app, caller)
    assert (shown["libraryBytes"], shown["usedBytes"]) == (600, 600)
    assert await _rows(app, caller) == (0, 2)
    first_chat, second_chat = await app.chat(caller), await app.chat(caller)
    small = TEXT[:200]
    for _ in range(2):
        attached = await _attach(app, caller, first_chat, small)
        assert attached.status_code == 201, attached.text
    assert (await _storage(app, caller))["attachmentBytes"] == 200
    folder = app.services.chat.attachments
    assert folder is not None and _files_under(folder.root / first_chat) == 1
    assert (await _attach(app, caller, second_chat, small)).status_code == 201
    assert (await _storage(app, caller))["usedBytes"] == 1000  # stored twice: two folders
    refused = await _attach(app, caller, second_chat, TEXT[:201])
    assert refused.status_code == 413
    assert refused.json()["details"] == {"used": 1000, "upload": 201, "limit": LIMIT}


async def _set_limit(app: AppHarness, caller: Caller, user_id: str, limit: int | None) -> Any:
    return await app.client.put(
        f"/api/users/{user_id}/storage", json={"limitBytes": limit}, headers=caller.headers
    )


async def test_an_admin_sets_a_users_own_limit_and_0_lifts_it(app: AppHarness) -> None:
    caller = await app.member("quota-own-limit")
    assert (await _set_limit(app, caller, caller.id, 0)).status_code == 403
    lowered = await _set_limit(app, app.admin, caller.id, 500)
    assert lowered.status_code == 200, lowered.text
    assert (lowered.json()["limitBytes"], lowered.json()["ownLimitBytes"]) == (500, 500)
    refused = await _to_library(app, caller, TEXT)
    assert refused.status_code == 413 and refused.json()["details"]["limit"] == 500
    lifted = await _set_limit(app, app.admin, caller.id, 0)
    body = lifted.json()
    assert (body["limitBytes"], body["remainingBytes"], body["ownLimitBytes"]) == (None, None, 0)
    for word in ("fox", "cat", "cow"):  # 1,800 bytes: past the instance's 1,000
        uploaded = await _to_library(app, caller, TEXT.replace(b"fox", word.encode()))
        assert uploaded.status_code == 201, uploaded.text
    assert (await _storage(app, caller))["usedBytes"] == 1800
    back = await _set_limit(app, app.admin, caller.id, None)
    assert (back.json()["limitBytes"], back.json()["remainingBytes"]) == (LIMIT, 0)
    assert back.json()["ownLimitBytes"] is None
    _refused(await _to_library(app, caller, TEXT.replace(b"fox", b"owl")), used=1800)
    assert (await _set_limit(app, app.admin, caller.id, -1)).status_code == 422
    events = await app.client.get(
        "/api/audit-events",
        params={"kind": "user.storage_limit_changed"},
        headers=app.admin.headers,
    )
    changes = [e["details"] for e in events.json()["_embedded"]["auditEvents"]]
    assert {"username": "quota-own-limit", "from": 500, "to": 0} in changes


async def test_a_limit_of_0_means_no_limit(make_harness: Harnesses) -> None:
    async with make_harness.running(
        max_storage_bytes_per_user=0, embedding_backend="hash"
    ) as unlimited:
        caller = await unlimited.member("quota-unlimited")
        chat_id = await unlimited.chat(caller)
        big = TEXT * 4
        for n in range(3):
            attached = await _attach(unlimited, caller, chat_id, big + str(n).encode())
            assert attached.status_code == 201, attached.text
        shown = await _storage(unlimited, caller)
        assert (shown["usedBytes"], shown["limitBytes"], shown["remainingBytes"]) == (
            3 * (len(big) + 1),
            None,
            None,
        )


async def _run_sync(app: AppHarness, job_id: str, count: int) -> dict[str, Any]:
    started = await app.client.post(f"/api/jobs/{job_id}/_run", headers=app.admin.headers)
    assert started.status_code == 202, started.text

    async def finished() -> dict[str, Any]:
        response = await app.client.get(f"/api/jobs/{job_id}/runs", headers=app.admin.headers)
        runs: list[dict[str, Any]] = response.json()["_embedded"]["runs"]
        assert len(runs) == count and runs[0]["status"] != "running", runs
        return runs[0]

    run = await eventually(finished, seconds=30, interval=0.1)
    detail = await app.client.get(f"/api/jobs/{job_id}/runs/{run['id']}", headers=app.admin.headers)
    body: dict[str, Any] = detail.json()
    return body


async def test_a_library_sync_adds_the_files_that_fit_and_names_the_rest(
    app: AppHarness, sync_root: Path
) -> None:
    # The admin mirrors a folder into a member's library folder: the member's quota is charged.
    owner = await app.member("quota-synced")
    folder = await app.client.post(
        "/api/library/folders", json={"name": "Mirror"}, headers=owner.headers
    )
    assert folder.status_code == 201, folder.text
    source = sync_root / "quota"
    source.mkdir()
    texts = {name: TEXT[:400].replace(b"fox", f"fx{name}".encode()) for name in ("a", "b", "c")}
    for name, data in texts.items():
        (source / f"{name}.txt").write_bytes(data)
    (source / "copy-of-a.txt").write_bytes(texts["a"])  # the same content: counted once
    job = await app.client.post(
        "/api/jobs",
        json={
            "name": "mirror",
            "type": "library-sync",
            "params": {"path": "quota", "folderId": folder.json()["id"]},
        },
        headers=app.admin.headers,
    )
    assert job.status_code == 201, job.text
    run = await _run_sync(app, job.json()["id"], 1)
    assert run["status"] == "failed", run
    assert (run["counts"]["added"], run["counts"]["overQuota"]) == (3, 1), run["counts"]
    assert "storage of quota-synced over its limit of 1000 bytes (800 bytes used)" in run["error"]
    assert "ask an admin to raise their storage limit, then run the job again" in run["error"]
    (step,) = run["steps"]
    assert run["errorCode"] == step["errorCode"] == "library_sync_over_storage_quota", run
    assert any("Not added (storage quota): c.txt (400 bytes)" in line for line in step["log"]), (
        step["log"]
    )
    shown = await _storage(app, owner)
    assert (shown["libraryBytes"], shown["usedBytes"]) == (800, 800)
    assert await _rows(app, owner) == (0, 0)  # created by the job's owner, charged to the owner
    stored = app.services.knowledge.storage
    assert not stored.path_of(content_key(texts["c"])).exists()  # c's bytes were never stored

    (source / "a.txt").unlink()
    (source / "copy-of-a.txt").unlink()  # frees a's 400 bytes before c is taken
    again = await _run_sync(app, job.json()["id"], 2)
    assert again["status"] == "done", again
    assert again["errorCode"] is again["steps"][0]["errorCode"] is None
    counts = again["counts"]
    assert (counts["added"], counts["deleted"], counts["overQuota"]) == (1, 2, 0), counts
    assert (await _storage(app, owner))["usedBytes"] == 800
    assert stored.path_of(content_key(texts["c"])).exists()


async def _plan(app: AppHarness, statement: Any) -> str:
    """The database's plan of a statement, as text naming the indexes it uses."""
    async with app.services.sessions() as session:
        dialect = session.get_bind().dialect
        sql = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        if dialect.name == "sqlite":
            rows = await session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            return "\n".join(str(row[-1]) for row in rows)
        await session.execute(text("ANALYZE knowledge_file"))
        rows = await session.execute(text(f"EXPLAIN {sql}"))
        return "\n".join(str(row[0]) for row in rows)


async def _team_with_files(app: AppHarness, name: str, files: dict[str, int]) -> str:
    """A new team whose library holds this many files of each uploader, inserted at once."""
    team = await app.client.post("/api/teams", json={"name": name}, headers=app.admin.headers)
    team_id: str = team.json()["id"]
    rows = [
        {
            "id": new_id(),
            "name": f"{n}.txt",
            "team_id": team_id,
            "created_by": uploader,
            "file_type": "text",
            "size": 10,
            "sha256": f"{n:064x}",
            "storage_key": f"{n:064x}",
            "status": "failed",
        }
        for uploader, count in files.items()
        for n in range(count)
    ]
    async with write_transaction(app.services.sessions) as session:
        await session.execute(insert(LibraryFile), rows)
    return team_id


async def test_the_team_sum_reads_the_uploaders_files_by_their_index(app: AppHarness) -> None:
    # 3,000 files of a teammate's and 3 of the caller's in one team: the sum of the caller's
    # finds theirs through (team_id, created_by), not by reading the team's files.
    caller = await app.member("quota-indexed")
    team_id = await _team_with_files(app, "quota-big", {caller.id: 3, "teammate": 2997})
    added = await app.client.post(
        f"/api/teams/{team_id}/members", json={"userId": caller.id}, headers=app.admin.headers
    )
    assert added.status_code == 201, added.text
    assert (await _storage(app, caller))["libraryBytes"] == 30
    plan = await _plan(app, storage_quota.usage_statement(caller.id))
    assert "ix_knowledge_file_team_uploader" in plan, plan


async def test_a_teams_files_are_found_by_the_team_uploader_index_alone(app: AppHarness) -> None:
    # knowledge_0005 dropped the index of team_id alone: a team's files (its library's listing,
    # the rows a team's deletion cascades to) are found through (team_id, created_by).
    await _team_with_files(app, "quota-crowd", {"someone": 3000})
    small = await _team_with_files(app, "quota-small", {"someone": 2, "other": 1})
    async with app.services.sessions() as session:
        indexes = await session.run_sync(
            lambda sync: inspect(sync.connection()).get_indexes("knowledge_file")
        )
    assert "ix_knowledge_file_team_id" not in {index["name"] for index in indexes}
    listing = select(LibraryFile.id).where(
        library.visible_to(LibraryFile, TenantScope("nobody", (small,)))
    )
    for statement in (listing, select(LibraryFile.id).where(LibraryFile.team_id == small)):
        plan = await _plan(app, statement)
        assert "ix_knowledge_file_team_uploader" in plan, plan


async def test_a_synced_file_that_changes_counts_its_new_size_in_place_of_the_old(
    app: AppHarness, sync_root: Path
) -> None:
    owner = await app.member("quota-resynced")
    folder = await app.client.post(
        "/api/library/folders", json={"name": "Changing"}, headers=owner.headers
    )
    source = sync_root / "changing"
    source.mkdir()
    first = TEXT[:400].replace(b"fox", b"gnu")
    (source / "a.txt").write_bytes(first)
    (source / "b.txt").write_bytes(TEXT[:400].replace(b"fox", b"yak"))
    job = await app.client.post(
        "/api/jobs",
        json={
            "name": "mirror",
            "type": "library-sync",
            "params": {"path": "changing", "folderId": folder.json()["id"]},
        },
        headers=app.admin.headers,
    )
    job_id = job.json()["id"]
    assert (await _run_sync(app, job_id, 1))["counts"]["added"] == 2
    # 800 of 1000 bytes: a.txt shrinking to 300 frees its 400 first, so it fits.
    (source / "a.txt").write_bytes(TEXT[:300].replace(b"fox", b"owl"))
    shrunk = await _run_sync(app, job_id, 2)
    assert shrunk["status"] == "done", shrunk
    assert (shrunk["counts"]["changed"], shrunk["counts"]["overQuota"]) == (1, 0)
    assert (await _storage(app, owner))["usedBytes"] == 700
    stored = app.services.knowledge.storage
    assert stored.path_of(content_key(first)).exists()  # left to the sweep
    await stored_bytes.sweep_once(app.services, grace_seconds=0)
    assert not stored.path_of(content_key(first)).exists()  # no file holds a's old bytes
    # b.txt growing to 900 would need 1,200: it keeps its previous version.
    before = await app.client.get(
        "/api/library/files", params={"folderId": folder.json()["id"]}, headers=owner.headers
    )
    kept = {f["name"]: f["sha256"] for f in before.json()["_embedded"]["files"]}
    grown = (TEXT * 2)[:900].replace(b"fox", b"elk")
    (source / "b.txt").write_bytes(grown)
    refused = await _run_sync(app, job_id, 3)
    assert refused["status"] == "failed", refused
    assert (refused["counts"]["changed"], refused["counts"]["overQuota"]) == (0, 1)
    after = await app.client.get(
        "/api/library/files", params={"folderId": folder.json()["id"]}, headers=owner.headers
    )
    assert {f["name"]: f["sha256"] for f in after.json()["_embedded"]["files"]} == kept
    assert (await _storage(app, owner))["usedBytes"] == 700
    assert not stored.path_of(content_key(grown)).exists()


async def test_a_sync_into_a_team_folder_counts_toward_the_jobs_owner(
    app: AppHarness, sync_root: Path
) -> None:
    # As a team upload counts toward its uploader: the admin whose job mirrors the files.
    team = await app.client.post(
        "/api/teams", json={"name": "quota-synced-team"}, headers=app.admin.headers
    )
    team_id = team.json()["id"]
    member = await app.member("quota-team-member")
    for user_id in (member.id, app.admin.id):
        joined = await app.client.post(
            f"/api/teams/{team_id}/members", json={"userId": user_id}, headers=app.admin.headers
        )
        assert joined.status_code in (201, 409), joined.text
    folder = await app.client.post(
        "/api/library/folders",
        json={"name": "Team mirror", "teamId": team_id},
        headers=member.headers,
    )
    assert folder.status_code == 201, folder.text
    source = sync_root / "team"
    source.mkdir()
    (source / "t.txt").write_bytes(TEXT[:300].replace(b"fox", b"emu"))
    before = (await _storage(app, app.admin))["libraryBytes"]
    job = await app.client.post(
        "/api/jobs",
        json={
            "name": "mirror",
            "type": "library-sync",
            "params": {"path": "team", "folderId": folder.json()["id"]},
        },
        headers=app.admin.headers,
    )
    # Other tests here fill the admin's 1,000 bytes: lift their limit meanwhile.
    assert (await _set_limit(app, app.admin, app.admin.id, 0)).status_code == 200
    try:
        run = await _run_sync(app, job.json()["id"], 1)
    finally:
        assert (await _set_limit(app, app.admin, app.admin.id, None)).status_code == 200
    assert run["counts"]["added"] == 1, (run["error"], run["counts"])
    assert (await _storage(app, app.admin))["libraryBytes"] == before + 300
    assert (await _storage(app, member))["usedBytes"] == 0


async def test_the_admins_list_counts_every_user_as_their_own_storage_does(
    app: AppHarness,
) -> None:
    # Last in the module: every user the tests before made is in the list too.
    team = await app.client.post(
        "/api/teams", json={"name": "quota-sums"}, headers=app.admin.headers
    )
    team_id = team.json()["id"]
    mixed, mate = await app.member("quota-mixed"), await app.member("quota-mate")
    for person in (mixed, mate):
        joined = await app.client.post(
            f"/api/teams/{team_id}/members", json={"userId": person.id}, headers=app.admin.headers
        )
        assert joined.status_code == 201, joined.text
    a, b, c = (TEXT[:100].replace(b"fox", name) for name in (b"ant", b"bee", b"cod"))
    first, second = await app.chat(mixed), await app.chat(mixed)
    for chat_id, data in ((first, a), (first, a), (second, a), (second, b)):
        assert (await _attach(app, mixed, chat_id, data)).status_code == 201
    for data in (a, a, c):
        assert (await _to_library(app, mixed, data)).status_code == 201
    for person, data in ((mixed, b), (mate, c)):
        sent = await app.client.post(
            "/api/library/files",
            files=[("files", ("team.txt", data))],
            data={"teamId": team_id},
            headers=person.headers,
        )
        assert sent.status_code == 201, sent.text
    listed = await app.client.get(
        "/api/users/storage", params={"limit": 500}, headers=app.admin.headers
    )
    shown = listed.json()["_embedded"]["storage"]
    assert len(shown) == listed.json()["total"] > 2
    for row in shown:
        single = await app.client.get(row["_links"]["self"]["href"], headers=app.admin.headers)
        assert {**single.json(), "username": row["username"], "_links": row["_links"]} == row
    by_name = {row["username"]: row for row in shown}
    # a three times in two chats (stored twice) and b: 300; a, a, c and b in the team: 300.
    assert (by_name["quota-mixed"]["attachmentBytes"], by_name["quota-mixed"]["libraryBytes"]) == (
        300,
        300,
    )
    assert by_name["quota-mate"]["usedBytes"] == 100
