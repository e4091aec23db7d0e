"""Markdown rendering for the page: sanitised on the server, whatever the text holds."""

from __future__ import annotations

import pytest

from tests.support import AppHarness

pytestmark = pytest.mark.anyio

PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    "[click](javascript:window.__xss=1)",
    '<a href="https://ok.example" onclick="window.__xss=1">a</a>',
    "```html\n<script>window.__xss=1</script>\n```",
    '<svg><animate onbegin="window.__xss=1"/></svg>',
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    '<iframe src="javascript:window.__xss=1"></iframe>',
]


async def test_markdown_renders_code_tables_and_links_but_never_markup_of_its_own(
    harness: AppHarness,
) -> None:
    text = (
        "# Title\n\n```python\nprint('hi')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "[doc](https://example.com)"
    )
    answer = await harness.client.post(
        "/api/markdown/_render", json={"texts": [text, *PAYLOADS]}, headers=harness.admin.headers
    )
    assert answer.status_code == 200
    rendered, *unsafe = answer.json()["html"]
    assert '<code class="language-python">' in rendered
    assert "<table>" in rendered and "<td>1</td>" in rendered
    assert 'href="https://example.com"' in rendered and "noopener" in rendered
    for html in unsafe:
        tags = _markup(html.lower())  # escaped text (&lt;script&gt;) is not markup
        for marker in (
            "<script",
            "onerror",
            "onclick",
            "onbegin",
            "javascript:",
            "<iframe",
            "<svg",
        ):
            assert marker not in tags, html
        assert "data:" not in tags, html


def _markup(html: str) -> str:
    """The tags of an HTML text (its text between tags removed)."""
    parts = []
    inside = False
    for char in html:
        if char == "<":
            inside = True
        if inside:
            parts.append(char)
        if char == ">":
            inside = False
    return "".join(parts)


async def test_markdown_rendering_needs_a_caller_and_refuses_oversized_input(
    harness: AppHarness,
) -> None:
    anonymous = await harness.client.post("/api/markdown/_render", json={"texts": ["hi"]})
    assert anonymous.status_code == 401
    too_many = await harness.client.post(
        "/api/markdown/_render", json={"texts": ["x"] * 201}, headers=harness.admin.headers
    )
    assert too_many.status_code == 422
    assert too_many.json()["code"]
