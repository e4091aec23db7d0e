"""A fake SearXNG instance on loopback: `GET /search?q=...&format=json` in SearXNG's JSON shape.

The query picks the answer: `html` an HTML page, `broken` HTTP 500, `huge` JSON over the 1 MB
the web search reads, `slow` JSON after 3 s, `shape` JSON without a results list; without
`format=json` the answer is HTTP 403 (as from an instance without the json format). Any other
query answers results about it, with a `javascript:` URL, one with credentials, a duplicate and
a non-object mixed in (which the toolkit must drop). Every request's parameters are recorded.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


def results_for(query: str) -> list[dict[str, Any]]:
    """The fake's results for an ordinary query: three good ones, then ones to be dropped."""
    slug = "-".join(query.lower().split())
    good = [
        {
            "url": f"https://example.org/{slug}/{n}",
            "title": f"{query} — page {n}",
            "content": f"Snippet {n} about {query}.",
            "engine": "duckduckgo",
            "score": 1.0 / n,
            **({"publishedDate": "2026-11-30T00:00:00"} if n == 1 else {}),
        }
        for n in (1, 2, 3)
    ]
    bad: list[Any] = [
        {"url": "javascript:alert(1)", "title": "Not a page", "content": "x"},
        {"url": "https://user:secret@example.org/", "title": "Credentials", "content": "x"},
        "not an object",
        {"title": "No URL"},
        dict(good[0]),
    ]
    return [*good[:2], *bad, good[2]]


@dataclass
class FakeSearxng:
    """The app and what it saw."""

    seen: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        """The ASGI app answering `/search`."""
        return Starlette(routes=[Route("/search", self._search)])

    async def _search(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.seen.append(params)
        query = params.get("q", "")
        if params.get("format") != "json":
            return PlainTextResponse("Forbidden", status_code=403)
        if query == "html":
            return HTMLResponse("<!doctype html><title>SearXNG</title><p>Results</p>")
        if query == "broken":
            return PlainTextResponse("Internal Server Error", status_code=500)
        if query == "huge":
            filler = [
                {"url": f"https://example.org/{n}", "content": "x" * 1000} for n in range(1200)
            ]
            return Response(json.dumps({"results": filler}), media_type="application/json")
        if query == "shape":
            return JSONResponse({"results": "none today"})
        if query == "slow":
            await asyncio.sleep(3)
        body = {"query": query, "number_of_results": 6, "results": results_for(query)}
        return JSONResponse(body)
