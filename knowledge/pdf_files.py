"""Reading PDF files page by page, with every stream's decompression capped."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence

import pypdf
from pypdf.errors import FileNotDecryptedError, LimitReachedError, PyPdfError

from knowledge.detection import FileType
from knowledge.documents import DocumentBuilder, ParsedDocument, ParseLimits
from knowledge.errors import CorruptFile, DecompressionBomb, EncryptedFile, TooManyPages

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_MAX_OUTLINE_DEPTH = 6


def parse_pdf(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """PDF: each page's text as paragraphs, sections taken from the document outline.

    Raises:
        DecompressionBomb: a stream inflates past the limit.
        TooManyPages: more pages than allowed.
        EncryptedFile: the file needs a password.
        CorruptFile: the file cannot be read as a PDF.
    """
    cap = limits.max_decompressed_bytes
    caps = {
        "zlib_maximum_output_length": cap,
        "lzw_maximum_output_length": cap,
        "run_length_maximum_output_length": cap,
        "array_based_stream_maximum_output_length": cap,
        "maximum_declared_stream_length": cap,
        "stream_decoding_work_maximum_length": cap,
        "image_maximum_buffer_size": cap,
    }
    try:
        with pypdf.apply_configuration(None, **caps):
            return _read(pypdf.PdfReader(io.BytesIO(data), strict=False), limits)
    except LimitReachedError as exc:
        raise DecompressionBomb(
            f"A part of the PDF inflates past {cap:,} bytes when unpacked."
        ) from exc
    except FileNotDecryptedError as exc:
        raise EncryptedFile() from exc
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise CorruptFile(f"The PDF cannot be read: {exc}.") from exc


def _read(reader: pypdf.PdfReader, limits: ParseLimits) -> ParsedDocument:
    if reader.is_encrypted and not reader.decrypt(""):
        raise EncryptedFile()
    count = len(reader.pages)
    if count > limits.max_pages:
        raise TooManyPages(f"The PDF has {count:,} pages; the limit is {limits.max_pages:,}.")
    starts = _outline_starts(reader)
    builder = DocumentBuilder(FileType.PDF, limits)
    builder.pages = count
    for index, page in enumerate(reader.pages):
        number = index + 1
        text = (page.extract_text() or "").lstrip()
        for title, level in starts.get(index, []):
            builder.heading(title, level, number)
            # The outline title is usually also the first line of the page.
            if text.startswith(title):
                text = text[len(title) :].lstrip()
        for paragraph in _PARAGRAPH_BREAK.split(text):
            builder.paragraph(" ".join(paragraph.split()), number)
    document = builder.build()
    metadata_title = _metadata_title(reader)
    if metadata_title:
        return ParsedDocument(
            file_type=document.file_type,
            text=document.text,
            blocks=document.blocks,
            pages=count,
            title=metadata_title,
        )
    return document


def _outline_starts(reader: pypdf.PdfReader) -> dict[int, list[tuple[str, int]]]:
    """Outline (bookmark) titles by the page index they start on, with their depth."""
    starts: dict[int, list[tuple[str, int]]] = {}
    try:
        for title, level, destination in _walk_outline(reader.outline, 1):
            page = reader.get_destination_page_number(destination)
            if page is not None and page >= 0:
                starts.setdefault(page, []).append((title, level))
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return {}  # a broken outline costs the sections, not the text
    return starts


def _walk_outline(
    items: Sequence[object], level: int
) -> Iterator[tuple[str, int, pypdf.generic.Destination]]:
    last_destination: pypdf.generic.Destination | None = None
    for item in items:
        if isinstance(item, list):
            if level < _MAX_OUTLINE_DEPTH and last_destination is not None:
                yield from _walk_outline(item, level + 1)
        elif isinstance(item, pypdf.generic.Destination):
            last_destination = item
            yield str(item.title or ""), level, item


def _metadata_title(reader: pypdf.PdfReader) -> str | None:
    try:
        metadata = reader.metadata
    except PyPdfError:
        return None
    title = metadata.title if metadata is not None else None
    return str(title) if title else None
