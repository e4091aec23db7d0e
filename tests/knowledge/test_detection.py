"""File types are decided by content, never by name."""

from __future__ import annotations

import io
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
