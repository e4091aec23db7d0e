"""Reading the text formats into blocks: plain text, Markdown, HTML, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

import bs4
from markdown_it import MarkdownIt
from markdown_it.token import Token

from knowledge.detection import FileType
from knowledge.documents import DocumentBuilder, ParsedDocument, ParseLimits, table_groups
from knowledge.errors import CorruptFile

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_JSON_LINES_PER_BLOCK = 30
_HTML_SKIPPED = {
    *("script", "style", "noscript", "template", "svg", "head"),
    *("nav", "aside", "footer", "form", "button", "dialog"),
}
_HTML_CHROME_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary"}
_ANCHOR_MARKS = {"¶", "#", "§", "🔗"}
_ANCHOR_MARK_END = re.compile(r"\s*[¶§]$")
_HTML_BLOCKS = {"p", "li", "pre", "blockquote", "dt", "dd", "figcaption", "caption", "address"}
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}


def decode_text(data: bytes) -> str:
    """Bytes as text: UTF-8 (with or without BOM), UTF-16 with BOM, else Latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse_text(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """Plain text: paragraphs separated by blank lines."""
    builder = DocumentBuilder(FileType.TEXT, limits)
    for paragraph in _PARAGRAPH_BREAK.split(decode_text(data)):
        builder.paragraph(paragraph)
    return builder.build()


def parse_markdown(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """Markdown: sections by headings, paragraphs, code blocks and tables."""
    builder = DocumentBuilder(FileType.MARKDOWN, limits)
    tokens = MarkdownIt("commonmark").enable("table").parse(decode_text(data))
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "heading_open":
            builder.heading(_inline_text(tokens[index + 1]), int(token.tag[1:]))
            index += 2
        elif token.type == "inline":
            builder.paragraph(_inline_text(token))
        elif token.type in ("fence", "code_block"):
            builder.code(token.content)
        elif token.type == "html_block":
            builder.paragraph(token.content)
        elif token.type == "table_open":
            rows, index = _markdown_table(tokens, index)
            builder.table(rows)
        index += 1
    return builder.build()


def _inline_text(token: Token) -> str:
    """The plain text of an inline token (markup dropped, line breaks kept as spaces)."""
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def _markdown_table(tokens: list[Token], index: int) -> tuple[list[list[str]], int]:
    """The rows of the table opening at `index`, and the index of its closing token."""
    rows: list[list[str]] = []
    while tokens[index].type != "table_close":
        token = tokens[index]
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows:
            rows[-1].append(_inline_text(token))
        index += 1
    return rows, index


def parse_html(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """HTML: headings, paragraphs, list items and tables of the page's main content.

    Only the document's main content is read (`<main>`, `[role=main]` or its one `<article>`);
    navigation, sidebars, footers, search forms, scripts and styles are dropped wherever they
    are, and so are heading anchors (the "¶" or "#" links documentation generators add).
    """
    builder = DocumentBuilder(FileType.HTML, limits)
    soup = bs4.BeautifulSoup(data, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    _tidy(soup)
    root = _main_content(soup)
    stack: list[bs4.element.PageElement] = list(reversed(list(root.children)))
    while stack:
        node = stack.pop()
        if isinstance(node, bs4.element.NavigableString):
            if type(node) is bs4.element.NavigableString:
                builder.paragraph(str(node))
            continue
        if not isinstance(node, bs4.element.Tag) or _is_chrome(node):
            continue
        if node.name in _HTML_HEADINGS:
            heading = _ANCHOR_MARK_END.sub("", " ".join(node.get_text().split()))
            builder.heading(heading, _HTML_HEADINGS[node.name])
        elif node.name == "table":
            builder.table(_html_table(node))
        elif node.name == "pre":
            builder.code(node.get_text())
        elif node.name in _HTML_BLOCKS and not node.find(_BLOCK_CHILDREN):
            builder.paragraph(" ".join(node.get_text().split()))
        else:
            stack.extend(reversed(list(node.children)))
    document = builder.build()
    if title:
        return ParsedDocument(
            file_type=document.file_type,
            text=document.text,
            blocks=document.blocks,
            pages=None,
            title=title,
        )
    return document


def _main_content(soup: bs4.BeautifulSoup) -> bs4.Tag | bs4.BeautifulSoup:
    """The element holding the page's own content: `<main>`, `[role=main]`, a lone `<article>`."""
    found = soup.find("main") or soup.find(True, attrs={"role": "main"})
    if isinstance(found, bs4.Tag):
        return found
    articles = soup.find_all("article")
    if len(articles) == 1 and isinstance(articles[0], bs4.Tag):
        return articles[0]
    return soup.body or soup


def _is_chrome(node: bs4.Tag) -> bool:
    """Scripts, styles and the page's furniture: navigation, sidebars, footers, search."""
    return node.name in _HTML_SKIPPED or node.get("role") in _HTML_CHROME_ROLES


def _tidy(soup: bs4.BeautifulSoup) -> None:
    """Drop the links to a heading shown as a mark ("¶", "#", "§", "🔗") beside it.

    Line breaks become newlines, as inline text is joined without separators (so that
    `<span>bisect.</span><span>bisect_left</span>` stays one identifier).
    """
    for line_break in soup.find_all("br"):
        line_break.replace_with("\n")
    for anchor in soup.find_all("a", href=True):
        mark = str(anchor["href"]).startswith("#") and anchor.get_text(strip=True) in _ANCHOR_MARKS
        if mark or "headerlink" in (anchor.get("class") or []):
            anchor.decompose()


_BLOCK_CHILDREN = [*_HTML_BLOCKS, *_HTML_HEADINGS, "table", "div", "ul", "ol", "section"]


def _html_table(table: bs4.Tag) -> list[list[str]]:
    """The rows of an HTML table as lists of cell texts."""
    rows = []
    for row in table.find_all("tr"):
        cells = [" ".join(cell.get_text(" ").split()) for cell in row.find_all(["td", "th"])]
        rows.append(cells)
    return rows


def parse_csv(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """CSV: the rows as tables of a few rows each, every one repeating the header row."""
    builder = DocumentBuilder(FileType.CSV, limits)
    text = decode_text(data)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:8192], delimiters=",;\t|"
        )
    except csv.Error:
        dialect = csv.excel
    try:
        for table in table_groups(csv.reader(io.StringIO(text), dialect)):
            builder.table(table)
    except csv.Error as exc:
        raise CorruptFile(f"The CSV file cannot be read: {exc}.") from exc
    return builder.build()


def parse_json(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """JSON: `path: value` lines, with each top-level key of an object as a heading."""
    builder = DocumentBuilder(FileType.JSON, limits)
    try:
        value = json.loads(decode_text(data))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CorruptFile("The JSON file is not valid JSON.") from exc
    sections = value.items() if isinstance(value, dict) else [("", value)]
    for key, item in sections:
        if key:
            builder.heading(str(key), 1)
        lines = list(_json_lines(item, str(key)))
        for start in range(0, len(lines), _JSON_LINES_PER_BLOCK):
            builder.paragraph("\n".join(lines[start : start + _JSON_LINES_PER_BLOCK]))
    return builder.build()


def _json_lines(value: object, path: str) -> Iterator[str]:
    """`path: value` for every scalar in a JSON value, depth first, without recursion."""
    stack: list[tuple[str, object]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            children = [(f"{where}.{key}" if where else str(key), v) for key, v in item.items()]
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(f"{where}[{i}]", v) for i, v in enumerate(item)]))
        else:
            yield f"{where}: {json.dumps(item, ensure_ascii=False)}" if where else str(item)
