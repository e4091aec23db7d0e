"""Web search against a loopback server speaking SearXNG's JSON API: results checked, numbered
after the turn's citations, and every bad answer a clear error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from core.errors import InvalidInput
from tests.fakes.searxng import FakeSearxng
from tests.toolkits.servers import serve
from toolkits.errors import WebSearchFailed
from toolkits.ssrf import AddressPolicy
from toolkits.web_search import WebSearch, results_of

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def searxng() -> Iterator[tuple[str, FakeSearxng]]:
    fake = FakeSearxng()
    with serve(fake.app()) as port:
        yield f"http://127.0.0.1:{port}", fake


def _web(url: str, *, allowed: bool = True, timeout: float = 2.0) -> WebSearch:
    policy = AddressPolicy.from_setting([url.removeprefix("http://")] if allowed else [])
    return WebSearch(url=url, results=5, timeout_seconds=timeout, policy=policy)


async def test_results_are_checked_and_numbered_after_the_turn_s_citations(
    searxng: tuple[str, FakeSearxng],
) -> None:
    url, fake = searxng
    cited = await _web(url).run("u1", {"query": "solar  wind", "count": 5, "language": "en"})
    assert fake.seen[-1] == {"q": "solar wind", "format": "json", "language": "en"}
    pages = [f"https://example.org/solar-wind/{n}" for n in (1, 2, 3)]
    assert [s.url for s in cited.sources] == pages  # javascript:, no URL, duplicates dropped
    citations: list[dict[str, Any]] = [{"number": 1, "fileId": "f1", "fileName": "notes.md"}]
    text = cited.numbered(citations)
    assert "[2] solar wind — page 1\nhttps://example.org/solar-wind/1\nSnippet 1" in text
    assert "cite" in text.lower() and "[4] solar wind — page 3" in text
    assert citations[1] == {
        "number": 2,
        "kind": "url",
        "url": pages[0],
        "title": "solar wind — page 1",
        "snippet": "Snippet 1 about solar wind.",
        "publishedAt": "2026-11-30T00:00:00",
    }
    assert "[2] solar wind" in cited.numbered(citations) and len(citations) == 4  # same numbers


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("html", "did not answer with JSON"),
        ("broken", "answered HTTP 500"),
        ("huge", "over 1000000 bytes"),
        ("shape", "no list of results"),
        ("slow", "did not answer within 0.5 s"),
    ],
)
async def test_a_bad_answer_is_a_clear_error(
    searxng: tuple[str, FakeSearxng], query: str, reason: str
) -> None:
    with pytest.raises(WebSearchFailed, match=reason):
        await _web(searxng[0], timeout=0.5).run("u1", {"query": query})


async def test_a_private_host_is_refused_unless_allowed(searxng: tuple[str, FakeSearxng]) -> None:
    url, fake = searxng
    before = len(fake.seen)
    with pytest.raises(WebSearchFailed, match="Refused by the address guard"):
        await _web(url, allowed=False).run("u1", {"query": "tides"})
    assert len(fake.seen) == before


@pytest.mark.parametrize("arguments", [{}, {"query": "x" * 401}, {"query": "a", "language": "-"}])
async def test_arguments_the_tool_cannot_use_are_refused(
    searxng: tuple[str, FakeSearxng], arguments: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInput):
        await _web(searxng[0]).run("u1", arguments)


def test_any_http_page_can_be_cited_but_nothing_else() -> None:
    found = [
        {"url": "https://bücher.example/übersicht", "title": "Bücher"},
        {"url": "HTTPS://EXAMPLE.ORG/Upper", "title": "Upper"},
        {"url": "data:text/html,<script>alert(1)</script>", "title": "Data"},
        {"url": "https://example.org/a b", "title": "Space"},
        {"url": "https:///no-host", "title": "No host"},
    ]
    sources = results_of(json.dumps({"results": found}).encode(), 5)
    assert [s.title for s in sources] == ["Bücher", "Upper"]
