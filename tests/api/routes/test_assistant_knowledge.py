"""An assistant's knowledge: attached library files and files uploaded to it ground its chats."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.billing_builders import seated_member
from tests.fakes.upstream import FakeUpstream
from tests.knowledge import samples
from tests.knowledge.apps import knowledge_app, upload, wait_settled
from tests.support import AppHarness, Caller, Harnesses, parse_sse

pytestmark = pytest.mark.anyio


async def _assistant(app: AppHarness, **body: Any) -> str:
    payload = {"name": "Pump expert", "instructions": "Help with pumps.", **body}
    response = await app.client.post("/api/assistants", json=payload, headers=app.admin.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _ask(app: AppHarness, caller: Caller, assistant_id: str, text: str) -> list[Any]:
    chat = await app.chat(caller, assistantId=assistant_id)
    response = await app.client.post(
        f"/api/chats/{chat}/messages",
        json={"content": text, "stream": True},
        headers=caller.headers,
    )
    assert response.status_code == 200, response.text
    return parse_sse(response.text)


def _citations(events: list[Any]) -> list[dict[str, Any]]:
    found = [data for _, name, data in events if name == "citations"]
    return list(found[0]["citations"]) if found else []


async def test_a_chat_with_an_assistant_cites_a_file_uploaded_to_it(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    upstream.behave("fake", text="Prime it first [1].")
    async with knowledge_app(make_harness) as app:
        assistant_id = await _assistant(app, visibility="instance")
        manual = samples.text_file(["Pump model HV-2290 must be primed before use."])
        uploaded = await app.client.post(
            f"/api/assistants/{assistant_id}/files",
            files=[("files", ("manual.txt", manual))],
            headers=app.admin.headers,
        )
        assert uploaded.status_code == 201, uploaded.text
        (item,) = uploaded.json()["_embedded"]["files"]
        assert item["uploaded"] is True and item["name"] == "manual.txt"
        await wait_settled(app, app.admin, [item["fileId"]])

        user = await seated_member(app, "user")
        events = await _ask(app, user, assistant_id, "How do I start pump HV-2290?")
        (citation,) = _citations(events)
        assert citation["fileId"] == item["fileId"] and citation["fileName"] == "manual.txt"
        system = upstream.recorder.requests[-1]["messages"][0]["content"]
        assert "HV-2290 must be primed" in system.rsplit("<library-passages>", 1)[1]

        listed = await app.client.get(f"/api/assistants/{assistant_id}/files", headers=user.headers)
        assert [f["id"] for f in listed.json()["_embedded"]["files"]] == [item["id"]]
        refused = await app.client.delete(
            f"/api/assistants/{assistant_id}/files/{item['id']}", headers=user.headers
        )
        assert refused.status_code == 403
        deleted = await app.client.delete(
            f"/api/assistants/{assistant_id}/files/{item['id']}", headers=app.admin.headers
        )
        assert deleted.status_code == 204
        gone = await app.client.get(
            f"/api/library/files/{item['fileId']}", headers=app.admin.headers
        )
        assert gone.status_code == 404
        assert _citations(await _ask(app, user, assistant_id, "How do I start HV-2290?")) == []


async def test_attached_library_files_ground_the_assistant_and_foreign_files_are_404(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    upstream.behave("fake", text="See [1].")
    async with knowledge_app(make_harness) as app:
        rows = await upload(
            app,
            app.admin,
            {"valves.txt": samples.text_file(["Valve V-17 closes clockwise, never by force."])},
        )
        await wait_settled(app, app.admin, [rows[0]["id"]])
        file_id = rows[0]["id"]
        assistant_id = await _assistant(app, visibility="instance", permission="edit")

        stranger = await seated_member(app, "stranger")
        mine = await app.client.post(
            "/api/library/folders", json={"name": "Mine"}, headers=stranger.headers
        )
        for body in ({"fileIds": [file_id]}, {"folderIds": ["0" * 26]}):
            foreign = await app.client.post(
                f"/api/assistants/{assistant_id}/knowledge", json=body, headers=stranger.headers
            )
            assert foreign.status_code == 404, foreign.text
        own_folder = await app.client.post(
            f"/api/assistants/{assistant_id}/knowledge",
            json={"folderIds": [mine.json()["id"]]},
            headers=stranger.headers,
        )
        assert own_folder.status_code == 201
        listed = await app.client.get(
            f"/api/assistants/{assistant_id}/knowledge", headers=app.admin.headers
        )
        assert [i["folderId"] for i in listed.json()["_embedded"]["knowledge"]] == [
            mine.json()["id"]
        ]

        attached = await app.client.post(
            f"/api/assistants/{assistant_id}/knowledge",
            json={"fileIds": [file_id]},
            headers=app.admin.headers,
        )
        assert attached.status_code == 201, attached.text
        items = attached.json()["_embedded"]["knowledge"]
        item = next(i for i in items if i["fileId"] == file_id)

        events = await _ask(app, stranger, assistant_id, "How does valve V-17 close?")
        assert [c["fileId"] for c in _citations(events)] == [file_id]

        detached = await app.client.delete(
            f"/api/assistants/{assistant_id}/knowledge/{item['id']}", headers=app.admin.headers
        )
        assert detached.status_code == 204
        still = await app.client.get(f"/api/library/files/{file_id}", headers=app.admin.headers)
        assert still.status_code == 200
        assert _citations(await _ask(app, stranger, assistant_id, "How does V-17 close?")) == []
