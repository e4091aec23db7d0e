"""Real files of every supported type, written in the tests with the libraries that write them."""

from __future__ import annotations

import io
import json
import zipfile
import zlib

import docx
import openpyxl  # type: ignore[import-untyped]
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    StreamObject,
)

Section = tuple[str, list[str]]


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _font() -> DictionaryObject:
    return DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )


def pdf_file(pages: list[Section], *, title: str = "") -> bytes:
    """A PDF with one page per (heading, paragraphs), an outline entry per heading."""
    writer = PdfWriter()
    for heading, paragraphs in pages:
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): _font()})}
        )
        lines = [f"BT /F1 14 Tf 72 740 Td ({_pdf_escape(heading)}) Tj ET"]
        y = 710
        for paragraph in paragraphs:
            lines.append(f"BT /F1 10 Tf 72 {y} Td ({_pdf_escape(paragraph)}) Tj ET")
            y -= 36
        content = DecodedStreamObject()
        content.set_data("\n".join(lines).encode("latin-1"))
        page.replace_contents(content)  # type: ignore[arg-type]
    for number, (heading, _) in enumerate(pages):
        writer.add_outline_item(title=heading, page_number=number)
    if title:
        writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_bomb(inflated_bytes: int) -> bytes:
    """A one-page PDF whose content stream inflates to `inflated_bytes` (a huge ratio)."""
    compressor = zlib.compressobj(9)
    piece = b" " * (1024 * 1024)
    compressed = b"".join(compressor.compress(piece) for _ in range(inflated_bytes // len(piece)))
    compressed += compressor.flush()
    writer = PdfWriter()
    page = writer.add_blank_page(612, 792)
    stream = StreamObject()
    stream._data = compressed
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    stream[NameObject("/Length")] = NumberObject(len(compressed))
    page[NameObject("/Contents")] = writer._add_object(stream)
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): _font()})}
    )
    _ = ArrayObject
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_file(sections: list[Section], *, table: list[list[str]] | None = None) -> bytes:
    """A DOCX with a Heading 1 and its paragraphs per section, and an optional table."""
    document = docx.Document()
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docx_bomb(inflated_bytes: int) -> bytes:
    """A valid DOCX with one extra part of zeros that inflates to `inflated_bytes`."""
    out = io.BytesIO(docx_file([("Harmless", ["Nothing to see here."])]))
    piece = b"\x00" * (1024 * 1024)
    with (
        zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("word/media/padding.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(inflated_bytes // len(piece)):
            member.write(piece)
    return out.getvalue()


def xlsx_file(sheets: dict[str, list[list[object]]]) -> bytes:
    """An XLSX with a sheet per name, rows as given (the first row is the header)."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def markdown_file(sections: list[Section]) -> bytes:
    parts = []
    for heading, paragraphs in sections:
        parts.append(f"## {heading}\n")
        parts.extend(f"{paragraph}\n" for paragraph in paragraphs)
    return ("# Handbook\n\n" + "\n".join(parts)).encode()


def html_file(sections: list[Section]) -> bytes:
    body = "".join(
        f"<h2>{heading}</h2>" + "".join(f"<p>{p}</p>" for p in paragraphs)
        for heading, paragraphs in sections
    )
    return (
        "<!DOCTYPE html><html><head><title>Guide</title><style>p{color:red}</style>"
        f"<script>var secret = 1;</script></head><body><h1>Guide</h1>{body}</body></html>"
    ).encode()


def csv_file(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(row) for row in rows).encode()


def json_file(value: object) -> bytes:
    return json.dumps(value, indent=2).encode()


def text_file(paragraphs: list[str]) -> bytes:
    return "\n\n".join(paragraphs).encode()
