"""Web search in chat: the built-in toolkit per chat and per assistant, against a loopback server
speaking SearXNG's JSON API; its results reach the model and become the answer's links."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.searxng import FakeSearxng
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Harnesses, parse_sse
from tests.toolkits.servers import serve

pytestmark = pytest.mark.anyio
KIT = "builtin-web-search"
WEB = f"{KIT}__web_search"


def _call(call_id: str, query: str) -> dict[str, Any]:
    arguments = json.dumps({"query": query})
    return {"id": call_id, "type": "function", "function": {"name": WEB, "arguments": arguments}}


@pytest.fixture
def searxng() -> Iterator[tuple[int, FakeSearxng]]:
    fake = FakeSearxng()
    with serve(fake.app()) as port:
        yield port, fake


@pytest.fixture
async def app(make_harness: Harnesses, searxng: tuple[int, FakeSearxng]) -> AppHarness:
    port = searxng[0]
    return await make_harness(
        web_search_url=f"http://127.0.0.1:{port}/",
        toolkit_allowed_hosts=[f"127.0.0.1:{port}"],
    )


async def _ask(app: AppHarness, chat_id: str) -> list[tuple[str, str, Any]]:
    response = await app.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "What is new?", "stream": True},
        headers=app.admin.headers,
    )
    assert response.status_code == 200, response.text
    return parse_sse(response.text)


def _links(citations: list[dict[str, Any]]) -> list[str]:
    return [c["url"] for c in citations if c["kind"] == "url"]


async def test_a_chat_s_web_search_reaches_the_model_and_its_pages_become_the_answer_s_links(
    app: AppHarness, upstream: FakeUpstream, searxng: tuple[int, FakeSearxng]
) -> None:
    fake = searxng[1]
    calls = [_call("w1", "solar wind"), _call("w2", "broken")]
    upstream.behave("fake", text="It is fast [1].", chunks=1, tool_calls=[calls])
    chat_id = await app.chat(app.admin, toolkitIds=[KIT])
    events = await _ask(app, chat_id)
    assert {s["q"] for s in fake.seen} == {"solar wind", "broken"}
    results = {e[2]["id"]: e[2] for e in events if e[1] == "toolResult"}
    assert results["w1"]["ok"] and "[1] solar wind — page 1" in results["w1"]["content"]
    assert not results["w2"]["ok"]
    assert "search service answered HTTP 500" in results["w2"]["content"]
    tool_messages = [m for m in upstream.recorder.requests[-1]["messages"] if m["role"] == "tool"]
    sent = next(m["content"] for m in tool_messages if m["tool_call_id"] == "w1")
    assert "https://example.org/solar-wind/1" in sent
    pages = [f"https://example.org/solar-wind/{n}" for n in (1, 2, 3)]
    cited = next(e[2]["citations"] for e in events if e[1] == "citations")
    assert _links(cited) == pages and [c["number"] for c in cited] == [1, 2, 3]
    assert [e[1] for e in events][-1] == "done"
    listed = await app.client.get(f"/api/chats/{chat_id}/messages", headers=app.admin.headers)
    answer = listed.json()["_embedded"]["messages"][-1]
    assert answer["status"] == "complete" and answer["content"] == "It is fast [1]."
    assert answer["citations"] == cited


async def test_an_assistant_with_web_search_offers_it_in_its_chats(
    app: AppHarness, upstream: FakeUpstream
) -> None:
    made = await app.client.post(
        "/api/assistants",
        json={"name": "Researcher", "toolkitIds": [KIT]},
        headers=app.admin.headers,
    )
    assert made.status_code == 201, made.text
    upstream.behave("fake", text="Tides.", chunks=1, tool_calls=[[_call("a1", "tides")]])
    events = await _ask(app, await app.chat(app.admin, assistantId=made.json()["id"]))
    offered = upstream.recorder.requests[-2]["tools"]
    assert [t["function"]["name"] for t in offered] == [WEB]
    cited = next(e[2]["citations"] for e in events if e[1] == "citations")
    assert _links(cited)[0] == "https://example.org/tides/1"


async def test_without_a_search_url_web_search_is_not_offered_and_says_why(
    harness: AppHarness,
) -> None:
    listed = await harness.client.get("/api/toolkits", headers=harness.admin.headers)
    kit = next(k for k in listed.json()["_embedded"]["toolkits"] if k["id"] == KIT)
    assert kit["connection"]["state"] == "unavailable"
    assert "SWITCHBOARD_WEB_SEARCH_URL" in kit["connection"]["reason"]
    tried = await harness.client.post(f"/api/toolkits/{KIT}/_test", headers=harness.admin.headers)
    assert tried.json()["state"] == "unavailable" and tried.json()["toolCount"] == 0
    refused = await harness.client.post(
        "/api/chats", json={"toolkitIds": [KIT]}, headers=harness.admin.headers
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "toolkit_unavailable"
    assert "SWITCHBOARD_WEB_SEARCH_URL" in refused.json()["message"]
