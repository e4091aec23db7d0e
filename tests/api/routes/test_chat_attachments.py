"""Chat attachments: images to models that can see, documents inline or retrieved from, the
library's limits, owners only, and the files going with the chat."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.knowledge.samples import docx_bomb, pdf_file, text_file
from tests.support import AppHarness, Caller, Harnesses, make_catalog

pytestmark = pytest.mark.anyio
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))


@pytest.fixture(scope="module")
async def app(
    make_module_harness: Harnesses, fake_upstream_server: FakeUpstream
) -> AsyncIterator[AppHarness]:
    catalog = make_catalog(
        fake_upstream_server.base_url, **{"fake-eyes": {"supports_vision": True}}
    )
    async with make_module_harness.running(catalog=catalog) as harness:
        yield harness


async def _upload(app: AppHarness, caller: Caller, chat_id: str, *files: tuple[str, bytes]) -> Any:
    return await app.client.post(
        f"/api/chats/{chat_id}/attachments",
        files=[("files", (name, data)) for name, data in files],
        headers=caller.headers,
    )


async def _attached(app: AppHarness, chat_id: str, *files: tuple[str, bytes]) -> list[str]:
    response = await _upload(app, app.admin, chat_id, *files)
    assert response.status_code == 201, response.text
    return [a["id"] for a in response.json()["_embedded"]["attachments"]]


async def _send(app: AppHarness, chat_id: str, content: str, ids: list[str], **body: Any) -> Any:
    return await app.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": content, "attachmentIds": ids, **body},
        headers=app.admin.headers,
    )


def _last_prompt(upstream: FakeUpstream) -> list[dict[str, Any]]:
    return list(upstream.recorder.requests[-1]["messages"])


async def test_an_image_reaches_a_model_that_can_see_as_an_image_part_on_every_later_turn(
    app: AppHarness, upstream: FakeUpstream
) -> None:
    chat_id = await app.chat(app.admin, model="fake-eyes")
    uploaded = await _upload(app, app.admin, chat_id, ("shot.png", PNG))
    assert uploaded.status_code == 201, uploaded.text
    (item,) = uploaded.json()["_embedded"]["attachments"]
    assert (item["name"], item["mediaType"], item["size"], item["status"]) == (
        "shot.png",
        "image/png",
        len(PNG),
        "ready",
    )
    sent = await _send(app, chat_id, "What is in this picture?", [item["id"]])
    assert sent.status_code == 201, sent.text
    user = _last_prompt(upstream)[-1]
    assert user["content"][0] == {"type": "text", "text": "What is in this picture?"}
    assert user["content"][1]["type"] == "image_url"
    assert user["content"][1]["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")
    listed = await app.client.get(f"/api/chats/{chat_id}/attachments", headers=app.admin.headers)
    (shown,) = listed.json()["_embedded"]["attachments"]
    assert shown["messageId"] is not None and shown["use"] == "image"
    again = await _send(app, chat_id, "And the colours?", [])
    assert again.status_code == 201
    first_turn = _last_prompt(upstream)[-3]
    assert first_turn["content"][1]["type"] == "image_url"
    resent = await _send(app, chat_id, "Once more", [item["id"]])
    assert resent.status_code == 409 and resent.json()["code"] == "attachment_already_sent"


async def test_an_image_for_a_model_that_cannot_see_is_422_naming_models_that_can(
    app: AppHarness, upstream: FakeUpstream
) -> None:
    chat_id = await app.chat(app.admin, model="fake")
    ids = await _attached(app, chat_id, ("shot.png", PNG))
    refused = await _send(app, chat_id, "Describe it", ids)
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["code"] == "model_cannot_see_images"
    assert body["details"]["models"] == ["fake-eyes"] and body["details"]["model"] == "fake"
    assert body["message"] == "fake cannot see images; models that can: fake-eyes."
    assert upstream.recorder.count() == 0
    listed = await app.client.get(f"/api/chats/{chat_id}/messages", headers=app.admin.headers)
    assert listed.json()["total"] == 0  # nothing of the turn was saved


async def test_a_small_pdfs_text_goes_into_the_prompt_between_attached_file_tags(
    app: AppHarness, upstream: FakeUpstream
) -> None:
    chat_id = await app.chat(app.admin)
    pdf = pdf_file([("Refunds", ["Refunds are paid within 14 days of the request."])])
    ids = await _attached(app, chat_id, ("policy.pdf", pdf))
    sent = await _send(app, chat_id, "How fast are refunds?", ids)
    assert sent.status_code == 201, sent.text
    content = _last_prompt(upstream)[-1]["content"]
    assert content.startswith('How fast are refunds?\n\n<attached-file name="policy.pdf">')
    assert "paid within 14 days" in content
    listed = await app.client.get(f"/api/chats/{chat_id}/attachments", headers=app.admin.headers)
    assert listed.json()["_embedded"]["attachments"][0]["use"] == "inline"


async def test_a_large_document_is_retrieved_from_with_citations(
    app: AppHarness, upstream: FakeUpstream
) -> None:
    chat_id = await app.chat(app.admin)
    filler = [f"Paragraph {n} is about the routine matters of the office." for n in range(400)]
    filler[300] = "The secret launch code for the rocket is ZEBRA-42."
    ids = await _attached(app, chat_id, ("handbook.txt", text_file(filler)))
    sent = await _send(app, chat_id, "What is the rocket launch code?", ids)
    assert sent.status_code == 201, sent.text
    prompt = json.dumps(_last_prompt(upstream))
    assert "ZEBRA-42" in prompt and "Paragraph 350 " not in prompt
    citations = sent.json()["citations"]
    assert citations[0]["fileId"] == ids[0] and citations[0]["fileName"] == "handbook.txt"
    assert "ZEBRA-42" in citations[0]["snippet"]
    listed = await app.client.get(f"/api/chats/{chat_id}/attachments", headers=app.admin.headers)
    assert listed.json()["_embedded"]["attachments"][0]["use"] == "retrieved"


async def test_a_bomb_or_an_unsupported_type_is_refused_as_the_library_refuses_it(
    app: AppHarness,
) -> None:
    chat_id = await app.chat(app.admin)
    bomb = await _upload(app, app.admin, chat_id, ("bomb.docx", docx_bomb(30 * 1024 * 1024)))
    assert bomb.status_code == 413, bomb.text
    assert bomb.json()["code"] == "decompression_bomb"
    assert bomb.json()["details"]["name"] == "bomb.docx"
    strange = ("tool.exe", b"MZ\x90\x00" + bytes(range(256)) * 4)
    refused = await _upload(app, app.admin, chat_id, strange)
    library = await app.client.post(
        "/api/library/files", files=[("files", strange)], headers=app.admin.headers
    )
    assert refused.status_code == library.status_code == 422
    assert refused.json()["code"] == library.json()["code"] == "unsupported_file_type"
    listed = await app.client.get(f"/api/chats/{chat_id}/attachments", headers=app.admin.headers)
    assert listed.json()["total"] == 0


async def test_another_user_can_neither_upload_to_nor_read_nor_send_your_attachments(
    app: AppHarness, upstream: FakeUpstream
) -> None:
    chat_id = await app.chat(app.admin)
    (attachment_id,) = await _attached(app, chat_id, ("notes.txt", b"the private notes"))
    intruder = await app.member("ivo")
    base = f"/api/chats/{chat_id}/attachments"
    upload = await _upload(app, intruder, chat_id, ("x.txt", b"hello there"))
    assert upload.status_code == 404
    for method, path in (
        ("GET", base),
        ("GET", f"{base}/{attachment_id}"),
        ("GET", f"{base}/{attachment_id}/content"),
        ("DELETE", f"{base}/{attachment_id}"),
    ):
        response = await app.client.request(method, path, headers=intruder.headers)
        assert response.status_code == 404, (method, path)
        assert "private notes" not in response.text
    theirs = await app.chat(intruder)
    sent = await app.client.post(
        f"/api/chats/{theirs}/messages",
        json={"content": "read it", "attachmentIds": [attachment_id]},
        headers=intruder.headers,
    )
    assert sent.status_code == 404 and sent.json()["code"] == "attachment_not_found"
    assert upstream.recorder.count() == 0
    mine = await app.client.get(f"{base}/{attachment_id}/content", headers=app.admin.headers)
    assert mine.content == b"the private notes"


async def test_deleting_the_chat_deletes_its_attachments_and_their_files(app: AppHarness) -> None:
    chat_id = await app.chat(app.admin)
    big = PNG + bytes(1_500_000)  # over the JSON body limit: uploads have their own
    await _attached(app, chat_id, ("a.txt", b"first file"), ("shot.png", big))
    folder = app.services.settings.data_dir / "attachments" / chat_id
    assert len([p for p in folder.rglob("*") if p.is_file()]) == 2
    deleted = await app.client.delete(f"/api/chats/{chat_id}", headers=app.admin.headers)
    assert deleted.status_code == 204
    assert not folder.exists()
    gone = await app.client.get(f"/api/chats/{chat_id}/attachments", headers=app.admin.headers)
    assert gone.status_code == 404


async def test_deleting_a_user_deletes_their_chats_attachment_files(app: AppHarness) -> None:
    leaver = await app.member("leaver")
    chat_id = await app.chat(leaver)
    uploaded = await _upload(app, leaver, chat_id, ("mine.txt", b"a file of the leaver"))
    assert uploaded.status_code == 201, uploaded.text
    folder = app.services.settings.data_dir / "attachments" / chat_id
    assert folder.exists()
    users = await app.client.get("/api/users?q=leaver", headers=app.admin.headers)
    (found,) = [u for u in users.json()["_embedded"]["users"] if u["username"] == "leaver"]
    deleted = await app.client.delete(f"/api/users/{found['id']}", headers=app.admin.headers)
    assert deleted.status_code == 204, deleted.text
    assert not folder.exists()
