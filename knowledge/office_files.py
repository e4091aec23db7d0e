"""Reading Office files (DOCX, XLSX), checking the zip container for bombs before reading it."""

from __future__ import annotations

import io
import zipfile

import docx
import openpyxl  # type: ignore[import-untyped]
from docx.table import Table
from docx.text.paragraph import Paragraph

from knowledge.detection import FileType
from knowledge.documents import DocumentBuilder, ParsedDocument, ParseLimits, table_groups
from knowledge.errors import CorruptFile, DecompressionBomb

_READ_CHUNK = 64 * 1024
# Small XML parts compress very well for honest reasons; the ratio only counts above this size.
_RATIO_FLOOR_BYTES = 1024 * 1024


def check_zip(data: bytes, limits: ParseLimits) -> None:
    """Refuse a zip whose members would inflate past the limits, reading at most the limit.

    The declared sizes and ratios are checked first from the central directory; then each member
    is inflated in small pieces and counted, so a member lying about its size is caught at the cap.

    Raises:
        DecompressionBomb: too many members, too much data or too high a compression ratio.
        CorruptFile: the archive cannot be read.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            _check_declared(members, limits)
            total = 0
            for member in members:
                with archive.open(member) as stream:
                    while piece := stream.read(_READ_CHUNK):
                        total += len(piece)
                        if total > limits.max_decompressed_bytes:
                            raise DecompressionBomb(
                                "The file inflates past "
                                f"{limits.max_decompressed_bytes:,} bytes when unpacked."
                            )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise CorruptFile(f"The archive cannot be read: {exc}.") from exc


def _check_declared(members: list[zipfile.ZipInfo], limits: ParseLimits) -> None:
    """Check the sizes the archive declares, before inflating anything."""
    if len(members) > limits.max_zip_members:
        raise DecompressionBomb(f"The archive holds more than {limits.max_zip_members:,} parts.")
    declared = sum(member.file_size for member in members)
    if declared > limits.max_decompressed_bytes:
        raise DecompressionBomb(
            f"The file declares {declared:,} bytes once unpacked, over the limit of "
            f"{limits.max_decompressed_bytes:,}."
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_FLOOR_BYTES and ratio > limits.max_compression_ratio:
            raise DecompressionBomb(
                f"A part of the file ({member.filename}) is compressed {ratio:,.0f} to 1, "
                f"over the limit of {limits.max_compression_ratio:,.0f}."
            )


def parse_docx(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """DOCX: headings by paragraph style, paragraphs and tables in document order.

    Raises:
        DecompressionBomb: the container inflates past the limits.
        CorruptFile: the archive cannot be read.
    """
    check_zip(data, limits)
    document = docx.Document(io.BytesIO(data))
    builder = DocumentBuilder(FileType.DOCX, limits)
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            builder.table(_docx_rows(item))
            continue
        level = _heading_level(item)
        if level is None:
            builder.paragraph(item.text)
        else:
            builder.heading(item.text, level)
    title = document.core_properties.title
    parsed = builder.build()
    if title:
        return ParsedDocument(
            file_type=parsed.file_type,
            text=parsed.text,
            blocks=parsed.blocks,
            pages=None,
            title=title,
        )
    return parsed


def _heading_level(paragraph: Paragraph) -> int | None:
    """The outline level of a heading paragraph ("Title" is level 1), None for body text."""
    name = paragraph.style.name if paragraph.style is not None else ""
    name = name or ""
    if name == "Title":
        return 1
    if name.startswith("Heading"):
        digits = name.removeprefix("Heading").strip()
        return int(digits) if digits.isdigit() else 1
    return None


def _docx_rows(table: Table) -> list[list[str]]:
    """A DOCX table's rows, with a merged cell's text given once."""
    rows = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is not previous:  # merged cells repeat the same element
                cells.append(cell.text)
            previous = cell._tc
        rows.append(cells)
    return rows


def parse_xlsx(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """XLSX: a section per sheet, its rows as tables of a few rows each under the header row.

    Raises:
        DecompressionBomb: the container inflates past the limits.
        CorruptFile: the archive cannot be read.
    """
    check_zip(data, limits)
    builder = DocumentBuilder(FileType.XLSX, limits)
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        for sheet in workbook.worksheets:
            builder.heading(sheet.title, 1)
            rows = (
                ["" if value is None else str(value) for value in values]
                for values in sheet.iter_rows(values_only=True)
            )
            for table in table_groups(rows):
                builder.table(table)
    finally:
        workbook.close()
    return builder.build()
