"""A parsed document: structured text blocks with headings, pages and character offsets."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Iterator, Sequence

from knowledge.detection import FileType
from knowledge.errors import DecompressionBomb

_BLOCK_SEPARATOR = "\n\n"
ROWS_PER_TABLE_BLOCK = 20


class BlockKind(enum.StrEnum):
    """What a block of text is in its document."""

    HEADING = "heading"
    PARAGRAPH = "paragraph"
    CODE = "code"
    TABLE = "table"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ParseLimits:
    """What a file may cost to read; every bound is checked before or while the work is done."""

    max_bytes: int = 50 * 1024 * 1024
    max_pages: int = 2_000
    max_decompressed_bytes: int = 200 * 1024 * 1024
    max_zip_members: int = 5_000
    max_compression_ratio: float = 100.0
    max_text_chars: int = 20 * 1024 * 1024
    max_seconds: float = 60.0
    max_worker_memory_bytes: int = 2 * 1024 * 1024 * 1024
    # Worker processes reading files. Embedding, in its own single worker, is ~90 % of indexing's
    # CPU, so one reader keeps it fed; each more holds ~70 MB while files are being read.
    workers: int = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class Block:
    """One heading, paragraph or table of a document, located for citations.

    `start` and `end` are character offsets into `ParsedDocument.text`.
    """

    kind: BlockKind
    text: str
    section: tuple[str, ...]
    page: int | None
    start: int
    end: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class ParsedDocument:
    """The text of a file and its blocks, in reading order."""

    file_type: FileType
    text: str
    blocks: tuple[Block, ...]
    pages: int | None = None
    title: str | None = None


class DocumentBuilder:
    """Collects blocks in reading order, tracking the heading path and the text offsets."""

    def __init__(self, file_type: FileType, limits: ParseLimits) -> None:
        self._file_type = file_type
        self._limits = limits
        self._parts: list[str] = []
        self._blocks: list[Block] = []
        self._length = 0
        self._headings: list[tuple[int, str]] = []
        self.title: str | None = None
        self.pages: int | None = None

    @property
    def section(self) -> tuple[str, ...]:
        """The current heading path, outermost first."""
        return tuple(text for _, text in self._headings)

    def heading(self, text: str, level: int, page: int | None = None) -> None:
        """Open a section at a heading level (1 is the outermost)."""
        text = " ".join(text.split())
        if not text:
            return
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, text))
        if self.title is None:
            self.title = text
        self._add(BlockKind.HEADING, text, page)

    def paragraph(self, text: str, page: int | None = None) -> None:
        """Add a paragraph of running text to the current section."""
        text = text.strip()
        if text:
            self._add(BlockKind.PARAGRAPH, text, page)

    def code(self, text: str, page: int | None = None) -> None:
        """Add a block of code or an interactive session (`<pre>`, a fenced block), lines kept."""
        text = text.strip()
        if text:
            self._add(BlockKind.CODE, text, page)

    def table(self, rows: Sequence[Sequence[str]], page: int | None = None) -> None:
        """Add a table, one line per row with cells separated by ` | `."""
        lines = [" | ".join(cell.strip() for cell in row) for row in rows]
        text = "\n".join(line for line in lines if line.strip(" |"))
        if text:
            self._add(BlockKind.TABLE, text, page)

    def _add(self, kind: BlockKind, text: str, page: int | None) -> None:
        start = self._length + (len(_BLOCK_SEPARATOR) if self._parts else 0)
        end = start + len(text)
        if end > self._limits.max_text_chars:
            raise DecompressionBomb(
                f"The file holds more than {self._limits.max_text_chars:,} characters of text."
            )
        if self._parts:
            self._parts.append(_BLOCK_SEPARATOR)
        self._parts.append(text)
        self._length = end
        self._blocks.append(
            Block(kind=kind, text=text, section=self.section, page=page, start=start, end=end)
        )

    def build(self) -> ParsedDocument:
        """The document collected so far."""
        return ParsedDocument(
            file_type=self._file_type,
            text="".join(self._parts),
            blocks=tuple(self._blocks),
            pages=self.pages,
            title=self.title,
        )


def table_groups(
    rows: Iterable[list[str]], size: int = ROWS_PER_TABLE_BLOCK
) -> Iterator[list[list[str]]]:
    """Rows in groups of `size` under the first (header) row, skipping empty rows.

    A table with a header only yields the header once.
    """
    header: list[str] | None = None
    group: list[list[str]] = []
    emitted = False
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = row
            continue
        group.append(row)
        if len(group) == size:
            yield [header, *group]
            group, emitted = [], True
    if header is not None and (group or not emitted):
        yield [header, *group]
