"""File types are decided by content, never by name."""

from __future__ import annotations

import io
import time
import zipfile

import pytest

from knowledge.detection import FileType, detect_file_type
from knowledge.errors import CorruptFile, UnsupportedFileType
from tests.knowledge import samples

SECTIONS = [("Intro", ["Hello there.", "A second paragraph."])]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (samples.pdf_file(SECTIONS), FileType.PDF),
        (samples.docx_file(SECTIONS), FileType.DOCX),
        (samples.xlsx_file({"Sheet": [["a", "b"], [1, 2]]}), FileType.XLSX),
        (samples.markdown_file(SECTIONS), FileType.MARKDOWN),
        (samples.html_file(SECTIONS), FileType.HTML),
        (samples.csv_file([["id", "name"], ["1", "ann"], ["2", "bob"]]), FileType.CSV),
        (samples.json_file({"a": [1, 2]}), FileType.JSON),
        (samples.text_file(["Just some words.", "And more words here."]), FileType.TEXT),
    ],
    ids=["pdf", "docx", "xlsx", "markdown", "html", "csv", "json", "text"],
)
def test_each_supported_type_is_recognised_from_its_bytes(data: bytes, expected: FileType) -> None:
    assert detect_file_type(data) is expected


def test_a_zip_that_is_not_an_office_document_is_unsupported() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(UnsupportedFileType):
        detect_file_type(out.getvalue())


def test_binary_content_is_unsupported_whatever_it_is_called() -> None:
    with pytest.raises(UnsupportedFileType):
        detect_file_type(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(UnsupportedFileType):
        detect_file_type(bytes(range(256)) * 4)


def test_a_broken_zip_is_a_corrupt_file() -> None:
    with pytest.raises(CorruptFile):
        detect_file_type(b"PK\x03\x04" + b"\x00" * 100)


def test_json_nested_deeper_than_the_decoder_goes_is_a_corrupt_file_not_a_crash() -> None:
    with pytest.raises(CorruptFile, match="nested too deeply"):
        detect_file_type(b"[" * 20_000 + b"]" * 20_000)
    with pytest.raises(CorruptFile, match="nested too deeply"):
        detect_file_type(b'{"a":' * 20_000 + b"1" + b"}" * 20_000)


@pytest.mark.parametrize(
    "data",
    [
        b"\n" * 65_536,
        b" \n" * 32_768,
        b"x[" * 32_768,
        b"<p " * 21_000,
        b"<!---->" * 9_000 + b"x",
        b"- " + b" " * 65_000,
        b"|" + b" " * 65_000 + b"x",
        (b'a,"' * 1_000 + b"\n") * 20,
    ],
    ids=["newlines", "blank-lines", "open-links", "open-tags", "comments", "list", "table", "csv"],
)
def test_crafted_text_is_typed_in_milliseconds_not_seconds(data: bytes) -> None:
    # Detection runs on the upload's request path holding the GIL: no input may backtrack.
    # Its CPU time, not the wall clock: on a loaded machine the wall clock counts other work too.
    started = time.thread_time()
    detect_file_type(data)
    assert time.thread_time() - started < 0.25


def test_a_zip_listing_more_members_than_an_office_file_has_is_refused_unread() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        for index in range(10_001):
            archive.writestr(f"{index}", b"")
    with pytest.raises(UnsupportedFileType, match="members"):
        detect_file_type(out.getvalue())
