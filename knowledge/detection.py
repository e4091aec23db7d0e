"""Deciding a file's type from its content (signatures and structure), never from its name."""

from __future__ import annotations

import csv
import enum
import io
import json
import re
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
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)
_HTML_TAGS = re.compile(rb"<(p|div|h[1-6]|table|ul|ol|span|a|br|title)\b[^>]*>", re.I)
_MARKDOWN_LINES = re.compile(
    r"^(#{1,6}\s+\S|\s*[-*+]\s+\S|\s*\d+\.\s+\S|```|>\s|\|.*\|\s*$)|\[[^\]]+\]\([^)]+\)", re.M
)


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
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CorruptFile("The file looks like a zip archive but it cannot be opened.") from exc
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return FileType.DOCX
        if "xl/workbook.xml" in names:
            return FileType.XLSX
    raise UnsupportedFileType()


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
    if _HTML_START.match(head) or len(_HTML_TAGS.findall(head)) >= 3:
        return FileType.HTML
    if len(_MARKDOWN_LINES.findall(text)) >= 2:
        return FileType.MARKDOWN
    if _is_csv(stripped):
        return FileType.CSV
    return FileType.TEXT


def _is_json(text: str, *, complete: bool) -> bool:
    """Whether the text is JSON (for a long file, whether its start reads as JSON)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return not complete and exc.pos >= len(text) - 2
    return True


def _is_csv(text: str) -> bool:
    """Whether the text is a table: lines with one delimiter count, at least two columns."""
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) < 2:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|")
    except csv.Error:
        return False
    rows = list(csv.reader(lines, dialect))
    widths = {len(row) for row in rows[:-1]} if len(rows) > 2 else {len(row) for row in rows}
    return len(widths) == 1 and min(widths) >= 2
