"""The storage quota: one user's chat attachments and library uploads together stay under
`max_storage_bytes_per_user`; an upload that would pass it is refused whole, before anything is
stored; usage is shown to the user and to admins, and freed by deleting files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from assistant.attachments.models import ChatAttachment
from knowledge.models import LibraryFile
from tests.support import AppHarness, Caller, Harnesses

pytestmark = pytest.mark.anyio
LIMIT = 1000
# 600 bytes of plain text: one fits the limit, two do not.
TEXT = (b"The quick brown fox jumps over the lazy dog. " * 14)[:600]


@pytest.fixture(scope="module")
async def app(make_module_harness: Harnesses) -> AsyncIterator[AppHarness]:
    async with make_module_harness.running(
        max_storage_bytes_per_user=LIMIT, embedding_backend="hash"
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
    _refused(await to_assistant(TEXT.replace(b"jumps", b"leaps")), used=len(TEXT))


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
