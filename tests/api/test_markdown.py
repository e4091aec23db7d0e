"""Markdown rendering for the page: sanitised on the server, whatever the text holds."""

from __future__ import annotations

import asyncio

import pytest

from api import markdown
from tests.support import AppHarness, Harnesses, slowest_health_while

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


def _table(chars: int) -> str:
    row = "| cell | *cell* | `cell` |\n"
    return "| a | b | c |\n|---|---|---|\n" + row * (chars // len(row))


async def test_texts_over_half_a_million_characters_in_all_are_refused(
    harness: AppHarness,
) -> None:
    answer = await harness.client.post(
        "/api/markdown/_render",
        json={"texts": ["x" * 200_000] * 3},
        headers=harness.admin.headers,
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_input"


async def test_a_long_render_runs_off_the_loop_while_health_keeps_answering(
    harness: AppHarness,
) -> None:
    rendering = asyncio.create_task(
        harness.client.post(
            "/api/markdown/_render",
            json={"texts": [_table(150_000), _table(150_000) + "!"]},
            headers=harness.admin.headers,
            timeout=60,
        )
    )
    slowest = await slowest_health_while(harness.client, rendering)
    answer = await rendering
    assert answer.status_code == 200, answer.text
    assert all(html.count("<tr>") > 1_000 for html in answer.json()["html"])
    # Inline, each table held the loop for about a second.
    assert slowest < 0.25


async def test_a_render_over_its_time_limit_is_refused_with_a_json_413(
    make_harness: Harnesses,
) -> None:
    async with make_harness.running(markdown_seconds=0.05) as harness:
        answer = await harness.client.post(
            "/api/markdown/_render",
            json={"texts": [_table(100_000) + "?"]},
            headers=harness.admin.headers,
        )
    assert answer.status_code == 413
    assert answer.json()["code"] == "rendering_too_costly"


async def test_a_text_rendered_once_is_served_again_from_the_cache() -> None:
    text = _table(60_000) + "cached"
    first = await markdown.render_all([text], markdown.RenderLimits(workers=1, seconds=60))
    # A limit no worker could meet: only the cache can answer.
    again = await markdown.render_all([text, "*hi*"], markdown.RenderLimits(seconds=0.000_001))
    assert again == [first[0], "<p><em>hi</em></p>\n"]


def test_lone_surrogates_render_as_replacement_characters_not_a_crash() -> None:
    assert markdown.render("a \ud800 b") == "<p>a \ufffd b</p>\n"


def test_code_is_highlighted_with_classes_and_tables_keep_alignment_without_style_attributes() -> (
    None
):
    html = markdown.render(
        "```Python\ndef f():\n    return 'hi'  # done\n```\n\n"
        "```not-a-language onclick=x\n<b>raw</b>\n```\n\n"
        "| name | price | note |\n|:---|---:|:-:|\n| tea | 3.50 | hot |\n"
    )
    assert '<span class="code-lang">Python</span>' in html
    assert '<code class="language-Python"><span class="k">def</span>' in html
    assert "<span class=\"s1\">'hi'</span>" in html and '<span class="c1"># done</span>' in html
    # An unknown language is labelled but left as plain, escaped text.
    assert '<span class="code-lang">not-a-language</span>' in html
    assert "&lt;b&gt;raw&lt;/b&gt;\n</code>" in html and "onclick" not in html
    assert '<div class="table-scroll"><table>' in html
    assert '<th class="align-left">name</th>' in html
    assert '<td class="align-right">3.50</td>' in html
    assert '<td class="align-center">hot</td>' in html
    assert "style=" not in html
