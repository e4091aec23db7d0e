"""Deciding a file's type from its content (signatures and structure), never from its name."""

from __future__ import annotations

import csv
import enum
import io
import json
import re
import struct
import zipfile

from knowledge.errors import CorruptFile, UnsupportedFileType

_SNIFF_BYTES = 64 * 1024
_BINARY_SIGNATURES = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"\x7fELF",
    b"MZ",
    b"\x1f\x8b",
    b"BZh",
    b"7z\xbc\xaf",
    b"Rar!",
    b"\xd0\xcf\x11\xe0",  # legacy OLE Office (doc, xls)
)
# Every pattern is linear in its input (bounded or excluding runs, no nested repetition) and is
# applied to one bounded line at a time: detection runs on the upload's request path, holding
# the GIL, so a crafted file must not make it backtrack for seconds.
_HTML_START = re.compile(rb"<(!doctype\s+html|html|head|body)\b", re.I)
_HTML_TAGS = re.compile(rb"<(p|div|h[1-6]|table|ul|ol|span|a|br|title)\b[^<>]{0,2000}>", re.I)
_MARKDOWN_LINE = re.compile(
    r"[ \t]{0,3}(#{1,6}[ \t]+\S|[-*+][ \t]+\S|\d{1,9}\.[ \t]+\S|```|>[ \t])"
)
_MARKDOWN_TABLE_ROW = re.compile(r"\|.*\|[ \t]*$")
_MARKDOWN_LINK = re.compile(r"\[[^\[\]\n]{1,500}\]\([^()\s]{1,2000}\)")
_MAX_LINES = 2_000
_CSV_SAMPLE_CHARS = 4 * 1024
# A zip whose central directory lists more members than this is not an Office file we read.
_MAX_ZIP_MEMBERS = 10_000
_ZIP_END = struct.Struct("<4s4H2LH")
_ZIP_END_SIGNATURE = b"PK\x05\x06"


class FileType(enum.StrEnum):
    """The kinds of file the library can read."""

    PDF = "pdf"
    DOCX = "docx"
    XLSX = "xlsx"
    MARKDOWN = "markdown"
    TEXT = "text"
    HTML = "html"
    CSV = "csv"
    JSON = "json"


def detect_file_type(data: bytes) -> FileType:
    """The type of a file judged by its bytes: signatures, zip members, then text structure.

    Raises:
        UnsupportedFileType: the content is binary of a kind the library does not read.
        CorruptFile: a zip container that cannot be opened.
    """
    head = data[:_SNIFF_BYTES]
    if head.lstrip(b"\x00\t\r\n ")[:5] == b"%PDF-" or b"%PDF-" in head[:1024]:
        return FileType.PDF
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _office_type(data)
    if head.startswith(_BINARY_SIGNATURES):
        raise UnsupportedFileType()
    text = _as_text(head)
    if text is None:
        raise UnsupportedFileType()
    return _text_type(text, head, complete=len(data) <= _SNIFF_BYTES)


def _office_type(data: bytes) -> FileType:
    """DOCX or XLSX by the members of the zip's central directory (read without inflating)."""
    if _zip_member_count(data) > _MAX_ZIP_MEMBERS:
        raise UnsupportedFileType(f"The archive lists more than {_MAX_ZIP_MEMBERS:,} members.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error) as exc:
        raise CorruptFile("The file looks like a zip archive but it cannot be opened.") from exc
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return FileType.DOCX
        if "xl/workbook.xml" in names:
            return FileType.XLSX
    raise UnsupportedFileType()


def _zip_member_count(data: bytes) -> int:
    """The member count the zip's end record claims (0 when there is none: zipfile says why).

    Reading a central directory is a Python loop per member, so a huge count is refused before
    `zipfile` walks it."""
    end = data.rfind(_ZIP_END_SIGNATURE, max(0, len(data) - _ZIP_END.size - 0xFFFF))
    if end < 0 or len(data) - end < _ZIP_END.size:
        return 0
    _, _, _, here, total, size, _, _ = _ZIP_END.unpack_from(data, end)
    # 0xFFFF means the real count is in a ZIP64 record: that many members is too many anyway.
    # A central directory entry takes at least 46 bytes, which bounds a count that lies.
    return int(max(here, total, size // 46))


def _as_text(head: bytes) -> str | None:
    """The sniffed bytes as text, or None when they look binary."""
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            return head.decode(encoding)
        except UnicodeDecodeError as exc:
            # A multi-byte character cut by the sniff window is still text.
            if encoding == "utf-8-sig" and exc.start >= len(head) - 4:
                return head[: exc.start].decode(encoding)
    controls = sum(1 for byte in head if byte < 9 or 13 < byte < 32)
    return head.decode("latin-1") if controls <= len(head) // 100 else None


def _text_type(text: str, head: bytes, *, complete: bool) -> FileType:
    """Among the text types, the one the content's structure shows."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and _is_json(stripped, complete=complete):
        return FileType.JSON
    if _starts_as_html(head) or _has_html_tags(head):
        return FileType.HTML
    if _markdown_marks(text) >= 2:
        return FileType.MARKDOWN
    if _is_csv(stripped):
        return FileType.CSV
    return FileType.TEXT


def _is_json(text: str, *, complete: bool) -> bool:
    """Whether the text is JSON (for a long file, whether its start reads as JSON).

    Raises:
        CorruptFile: JSON nested too deeply to be read.
    """
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return not complete and exc.pos >= len(text) - 2
    except RecursionError as exc:
        raise CorruptFile("The file is nested too deeply to be read.") from exc
    return True


def _starts_as_html(head: bytes) -> bool:
    """Whether the bytes open (after blanks and comments) with a doctype, html, head or body."""
    position = 0
    while True:
        while position < len(head) and head[position : position + 1].isspace():
            position += 1
        if not head.startswith(b"<!--", position):
            return _HTML_START.match(head, position) is not None
        end = head.find(b"-->", position + 4)
        if end < 0:
            return False
        position = end + 3


def _has_html_tags(head: bytes) -> bool:
    """Whether at least three common HTML tags appear."""
    return sum(1 for _ in zip(range(3), _HTML_TAGS.finditer(head), strict=False)) >= 3


def _markdown_marks(text: str) -> int:
    """How many lines look like Markdown (headings, lists, fences, quotes, tables or links)."""
    marks = 0
    for line in text.split("\n", _MAX_LINES)[:_MAX_LINES]:
        if _MARKDOWN_LINE.match(line) or _MARKDOWN_TABLE_ROW.match(line):
            marks += 1
        else:
            marks += len(_MARKDOWN_LINK.findall(line))
        if marks >= 2:
            break
    return marks


def _is_csv(text: str) -> bool:
    """Whether the text is a table: lines with one delimiter count, at least two columns."""
    # csv.Sniffer's patterns backtrack over long samples: a bounded sample of whole lines.
    sample = text[:_CSV_SAMPLE_CHARS].rpartition("\n")[0] if len(text) > _CSV_SAMPLE_CHARS else text
    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    if len(lines) < 2:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|")
    except csv.Error:
        return False
    rows = list(csv.reader(lines, dialect))
    widths = {len(row) for row in rows[:-1]} if len(rows) > 2 else {len(row) for row in rows}
    return len(widths) == 1 and min(widths) >= 2
