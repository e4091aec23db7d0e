"""Parsing real files of each type into located blocks; refusing hostile ones in bounded time."""

from __future__ import annotations

import time

import pytest

from knowledge.detection import FileType
from knowledge.documents import BlockKind, ParsedDocument, ParseLimits
from knowledge.errors import (
    CorruptFile,
    DecompressionBomb,
    FileTooLarge,
    ParsingTimedOut,
    TooManyPages,
)
from knowledge.parsing import parse_document, parse_in_worker
from tests.knowledge import samples

LIMITS = ParseLimits(max_decompressed_bytes=20 * 1024 * 1024, max_seconds=20)
SECTIONS = [
    ("Payment terms", ["Invoices are due within 30 days.", "Late fees use code LF-2291."]),
    ("Support", ["Write to support@example.com for help."]),
]


def _assert_offsets_locate_blocks(document: ParsedDocument) -> None:
    for block in document.blocks:
        assert document.text[block.start : block.end] == block.text


def test_pdf_pages_become_paragraphs_under_outline_sections() -> None:
    document = parse_document(samples.pdf_file(SECTIONS, title="Contract"), LIMITS)
    assert document.file_type is FileType.PDF
    assert (document.pages, document.title) == (2, "Contract")
    late_fees = next(block for block in document.blocks if "LF-2291" in block.text)
    assert (late_fees.page, late_fees.section) == (1, ("Payment terms",))
    support = next(block for block in document.blocks if "support@" in block.text)
    assert (support.page, support.section) == (2, ("Support",))
    _assert_offsets_locate_blocks(document)


def test_docx_headings_paragraphs_and_tables_keep_document_order() -> None:
    data = samples.docx_file(SECTIONS, table=[["Plan", "Price"], ["Pro", "$20"]])
    document = parse_document(data, LIMITS)
    kinds = [block.kind for block in document.blocks]
    assert kinds == [
        BlockKind.HEADING, BlockKind.PARAGRAPH, BlockKind.PARAGRAPH,
        BlockKind.HEADING, BlockKind.PARAGRAPH, BlockKind.TABLE,
    ]  # fmt: skip
    assert document.blocks[-1].text == "Plan | Price\nPro | $20"
    assert document.blocks[2].section == ("Payment terms",)
    _assert_offsets_locate_blocks(document)


def test_xlsx_sheets_become_sections_of_tables_that_repeat_the_header() -> None:
    rows: list[list[object]] = [["SKU", "Stock"], *([f"A-{n}", n] for n in range(45))]
    document = parse_document(samples.xlsx_file({"Stock": rows, "Empty": []}), LIMITS)
    tables = [block for block in document.blocks if block.kind is BlockKind.TABLE]
    assert len(tables) == 3
    assert all(table.text.startswith("SKU | Stock\n") for table in tables)
    assert tables[0].section == ("Stock",)
    assert "A-44 | 44" in tables[-1].text


def test_markdown_and_html_nest_sections_by_heading_level() -> None:
    for data in (samples.markdown_file(SECTIONS), samples.html_file(SECTIONS)):
        document = parse_document(data, LIMITS)
        fees = next(block for block in document.blocks if "LF-2291" in block.text)
        assert fees.section[-1] == "Payment terms" and len(fees.section) == 2
        assert "secret" not in document.text  # scripts are not text
        _assert_offsets_locate_blocks(document)


SPHINX_PAGE = b"""<!DOCTYPE html><html><head><title>bisect - Array bisection</title></head><body>
<div class="related" role="navigation"><h3>Navigation</h3><ul><li><a href="index.html">index</a>
</li><li><a href="heapq.html">previous</a> |</li></ul></div>
<div class="document"><div class="documentwrapper"><div class="bodywrapper">
<div class="body" role="main">
<section id="bisect"><h1><code class="xref"><span class="pre">bisect</span></code> - Array
bisection algorithm<a class="headerlink" href="#bisect" title="Permalink">\xc2\xb6</a></h1>
<p>This module keeps a list in sorted order<br>without sorting it after each insertion.</p>
<dl class="py function"><dt class="sig" id="bisect.bisect_left"><span class="sig-prename">\
<span class="pre">bisect.</span></span><span class="sig-name"><span class="pre">bisect_left</span>\
</span><span class="sig-paren">(</span><em>a</em>, <em>x</em><span class="sig-paren">)</span>\
<a class="headerlink" href="#bisect.bisect_left">\xc2\xb6</a></dt>
<dd><p>Locate the insertion point for <em>x</em> in <em>a</em>.</p></dd></dl>
<section id="examples"><h2>Examples<a href="#examples">#</a></h2>
<pre><span class="gp">&gt;&gt;&gt; </span>grade(33)
<span class="s1">'F'</span></pre></section></section></div></div></div>
<div class="sphinxsidebar" role="navigation" aria-label="main navigation">
<h3><a href="contents.html">Table of Contents</a></h3><ul><li>bisect</li></ul>
<h4>Previous topic</h4><p class="topless"><a href="heapq.html">heapq</a></p>
<div role="note"><h3>This Page</h3><ul><li><a href="bugs.html">Report a Bug</a></li></ul></div>
<div id="searchbox" role="search"><form><input type="text" name="q"></form></div></div>
</div><div class="footer">&copy; Copyright 2001-2023, Python Software Foundation.</div>
</body></html>"""


def test_code_blocks_of_markdown_and_html_are_code_with_their_lines() -> None:
    fence = "Call it so:\n\n```python\n>>> import json\n>>> json.dumps(1)\n'1'\n```\n"
    markdown = parse_document(("# Guide\n\n" + fence).encode(), LIMITS)
    html = parse_document(
        b"<html><body><main><h1>Guide</h1><p>Call it so:</p>"
        b"<pre>&gt;&gt;&gt; import json\n&gt;&gt;&gt; json.dumps(1)\n'1'\n</pre>"
        b"</main></body></html>",
        LIMITS,
    )
    for document in (markdown, html):
        kinds = [(block.kind, block.text) for block in document.blocks]
        assert kinds == [
            (BlockKind.HEADING, "Guide"),
            (BlockKind.PARAGRAPH, "Call it so:"),
            (BlockKind.CODE, ">>> import json\n>>> json.dumps(1)\n'1'"),
        ]
        _assert_offsets_locate_blocks(document)


def test_html_keeps_the_main_content_without_navigation_or_heading_anchors() -> None:
    document = parse_document(SPHINX_PAGE, LIMITS)
    for chrome in ("Navigation", "previous", "Table of Contents", "Previous topic", "This Page"):
        assert chrome not in document.text
    assert "Report a Bug" not in document.text and "Copyright" not in document.text
    assert "\u00b6" not in document.text and "Examples#" not in document.text
    signature = next(block for block in document.blocks if "bisect_left" in block.text)
    assert signature.text == "bisect.bisect_left(a, x)"  # one identifier, as written
    assert signature.section == ("bisect - Array bisection algorithm",)
    example = next(block for block in document.blocks if "grade" in block.text)
    assert example.section[-1] == "Examples" and example.text == ">>> grade(33)\n'F'"
    assert "sorted order without sorting" in document.text  # a line break still parts words
    _assert_offsets_locate_blocks(document)


def test_html_without_a_main_element_drops_navigation_and_footers() -> None:
    page = (
        b"<html><body><nav><a href='/'>Home</a></nav><h1>Pumps</h1><p>Oil the pump.</p>"
        b"<aside>Related posts</aside><footer>Imprint</footer></body></html>"
    )
    document = parse_document(page, LIMITS)
    assert [block.text for block in document.blocks] == ["Pumps", "Oil the pump."]


def test_csv_json_and_text_are_read_into_blocks() -> None:
    csv_doc = parse_document(samples.csv_file([["id", "name"], ["7", "Ann"]]), LIMITS)
    assert csv_doc.blocks[0].text == "id | name\n7 | Ann"
    json_doc = parse_document(samples.json_file({"owner": {"name": "Ops", "ids": [4, 5]}}), LIMITS)
    assert json_doc.blocks[0].text == "owner"
    assert json_doc.blocks[1].text == 'owner.name: "Ops"\nowner.ids[0]: 4\nowner.ids[1]: 5'
    text_doc = parse_document(samples.text_file(["One.", "Two."]), LIMITS)
    assert [block.text for block in text_doc.blocks] == ["One.", "Two."]


def test_corrupt_files_are_refused_with_a_clear_error() -> None:
    pdf = samples.pdf_file(SECTIONS)
    with pytest.raises(CorruptFile):
        parse_document(pdf[:200], LIMITS)
    docx = samples.docx_file(SECTIONS)
    with pytest.raises(CorruptFile):
        parse_document(docx[: len(docx) // 2], LIMITS)
    xlsx = samples.xlsx_file({"Sheet": [["a"], [1]]})
    with pytest.raises(CorruptFile):
        parse_document(xlsx[:-300], LIMITS)


def test_limits_on_size_and_pages_are_enforced() -> None:
    with pytest.raises(FileTooLarge):
        parse_document(b"x" * 2000, ParseLimits(max_bytes=1000))
    pages = [(f"Page {n}", ["text"]) for n in range(5)]
    with pytest.raises(TooManyPages):
        parse_document(samples.pdf_file(pages), ParseLimits(max_pages=3))


@pytest.mark.anyio
async def test_a_zip_bomb_docx_is_refused_within_seconds_in_the_worker() -> None:
    bomb = samples.docx_bomb(200 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024
    started = time.monotonic()
    with pytest.raises(DecompressionBomb):
        await parse_in_worker(bomb, LIMITS)
    assert time.monotonic() - started < 10


@pytest.mark.anyio
async def test_a_pdf_with_a_huge_decompression_ratio_is_refused_within_seconds() -> None:
    bomb = samples.pdf_bomb(200 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024
    started = time.monotonic()
    with pytest.raises(DecompressionBomb):
        await parse_in_worker(bomb, LIMITS)
    assert time.monotonic() - started < 10


@pytest.mark.anyio
async def test_a_parse_over_its_time_limit_fails_and_the_worker_keeps_serving() -> None:
    sections = [(f"Section {n}", ["Some words in a paragraph. " * 20] * 5) for n in range(3000)]
    big = samples.markdown_file(sections)
    with pytest.raises(ParsingTimedOut):
        await parse_in_worker(big, ParseLimits(max_seconds=0.05))
    document = await parse_in_worker(samples.markdown_file(SECTIONS), LIMITS)
    assert document.file_type is FileType.MARKDOWN
