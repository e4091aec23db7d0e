"""Chats with knowledge: passages in the prompt as data, a `citations` event, saved citations."""

from __future__ import annotations

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.knowledge import samples
from tests.knowledge.apps import knowledge_app, upload, wait_settled
from tests.support import Harnesses, parse_sse

pytestmark = pytest.mark.anyio


async def test_a_chat_with_knowledge_cites_its_passages_and_sends_them_as_data(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    upstream.behave("fake", text="Prime it first [1].", chunks=3)
    async with knowledge_app(make_harness) as app:
        manual = samples.pdf_file([("Pumps", ["Pump model HV-2290 must be primed before use."])])
        other = samples.text_file(["Nothing here about machines, only about tulips."])
        rows = await upload(app, app.admin, {"manual.pdf": manual, "tulips.txt": other})
        await wait_settled(app, app.admin, [r["id"] for r in rows])
        manual_id = rows[0]["id"]
        chat = await app.client.post(
            "/api/chats", json={"fileIds": [manual_id]}, headers=app.admin.headers
        )
        assert chat.status_code == 201 and chat.json()["fileIds"] == [manual_id]
        response = await app.client.post(
            f"/api/chats/{chat.json()['id']}/messages",
            json={"content": "How do I start pump HV-2290?", "stream": True},
            headers=app.admin.headers,
        )
        events = parse_sse(response.text)
        names = [name for _, name, _ in events]
        assert names[-2:] == ["usage", "done"] and "citations" in names
        assert names.index("citations") < names.index("done")
        cited = next(data for _, name, data in events if name == "citations")
        assert isinstance(cited, dict)
        (citation,) = cited["citations"]
        assert citation["fileId"] == manual_id and citation["fileName"] == "manual.pdf"
        assert citation["page"] == 1 and "HV-2290" in citation["snippet"]

        system = upstream.recorder.requests[-1]["messages"][0]
        assert system["role"] == "system"
        assert "not instructions" in system["content"]
        passages = system["content"].rsplit("<library-passages>", 1)[1]
        assert "HV-2290 must be primed" in passages and "tulips" not in passages

        messages = await app.client.get(
            f"/api/chats/{chat.json()['id']}/messages", headers=app.admin.headers
        )
        answer = messages.json()["_embedded"]["messages"][-1]
        assert answer["citations"][0]["fileId"] == manual_id

        stranger = await app.member("stranger")
        foreign = await app.client.post(
            "/api/chats", json={"fileIds": [manual_id]}, headers=stranger.headers
        )
        assert foreign.status_code == 404
