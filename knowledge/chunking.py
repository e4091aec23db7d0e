"""Cutting a parsed document into token-sized chunks that follow its structure.

A chunk never crosses a section (heading) or a page; within one it gathers whole blocks, a block
too long for one chunk is cut at sentences (paragraphs) or rows (tables), and a sentence too long
at words. Consecutive chunks of a section overlap by up to `overlap_tokens`. Each chunk is a span
of the document's text, so its offsets locate it exactly for a citation.

A chunk is searched two ways: keyword search (BM25, exact identifiers) reads its heading path and
whole text (`Chunk.search_text`), the embedding model its heading path and prose, code blocks left
out (`Chunk.embedding_text`). Code is a fifth of a documentation page's word pieces and embedding
most of indexing's cost; its names and calls are what the keyword lists find, and leaving it out
of the vectors kept retrieval on bench/retrieval.py's questions (bench/README.md, "Issue 20,
sixth pass").
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from core import tokens
from knowledge.documents import Block, BlockKind, ParsedDocument

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")
_ROW_END = re.compile(r"\n")
_WORD = re.compile(r"\S+\s*")
_CHARS_PER_TOKEN_FLOOR = 2


@dataclasses.dataclass(frozen=True)
class ChunkingOptions:
    """How large chunks are, in tokens of `tokenizer_model`'s encoding (cl100k_base by default)."""

    max_tokens: int = 180
    overlap_tokens: int = 30
    tokenizer_model: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Chunk:
    """A piece of a document to embed and cite.

    `start`/`end` are character offsets into `ParsedDocument.text`, and `text` is that span;
    `code` holds the spans of `text` (offsets into it) that are code blocks, one per block.
    """

    index: int
    text: str
    section: tuple[str, ...]
    page: int | None
    start: int
    end: int
    tokens: int
    code: tuple[tuple[int, int], ...] = ()

    @property
    def search_text(self) -> str:
        """The text keyword search indexes: the section path, then the whole text."""
        return _with_path(self.section, self.text)

    @property
    def embedding_text(self) -> str:
        """The text to embed: the section path first, so a chunk knows where it stands, then its
        prose. Code blocks are left out; a chunk of code alone keeps each block's first line."""
        prose = _without_code(self.text, self.code, first_lines=False)
        return _with_path(self.section, prose or _without_code(self.text, self.code))


def _with_path(section: tuple[str, ...], text: str) -> str:
    return " > ".join(section) + "\n" + text if section else text


def _without_code(text: str, code: tuple[tuple[int, int], ...], *, first_lines: bool = True) -> str:
    """`text` without its code spans, or with each cut to its first line; lines trimmed."""
    if not code:
        return text
    pieces, position = [], 0
    for start, end in code:
        pieces.append(text[position:start])
        if first_lines:
            pieces.append(text[start:end].strip().split("\n", 1)[0])
        position = end
    pieces.append(text[position:])
    return "\n".join(piece.strip() for piece in pieces if piece.strip())


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Unit:
    start: int
    end: int
    tokens: int
    section: tuple[str, ...]
    page: int | None
    code: int | None  # the start of its code block, None for prose


def chunk_document(document: ParsedDocument, options: ChunkingOptions | None = None) -> list[Chunk]:
    """The chunks of a document in reading order."""
    options = options or ChunkingOptions()
    units = [unit for block in document.blocks for unit in _units(document.text, block, options)]
    chunks: list[Chunk] = []
    group: list[_Unit] = []
    for unit in units:
        if group and (unit.section, unit.page) != (group[0].section, group[0].page):
            chunks.extend(_pack(document.text, group, options, len(chunks)))
            group = []
        group.append(unit)
    if group:
        chunks.extend(_pack(document.text, group, options, len(chunks)))
    return chunks


def _unit(block: Block, *, start: int, end: int, count: int) -> _Unit:
    """Text start:end of `block`, `count` tokens long, in the block's section and page."""
    code = block.start if block.kind is BlockKind.CODE else None
    return _Unit(
        start=start, end=end, tokens=count, section=block.section, page=block.page, code=code
    )


def _units(text: str, block: Block, options: ChunkingOptions) -> Iterator[_Unit]:
    """A block as one unit, or cut into units that each fit in a chunk."""
    count = tokens.count_text(block.text, options.tokenizer_model)
    if count <= options.max_tokens:
        yield _unit(block, start=block.start, end=block.end, count=count)
        return
    pattern = _ROW_END if block.kind is BlockKind.TABLE else _SENTENCE_END
    for start, end in _split(text, block.start, block.end, pattern):
        piece = tokens.count_text(text[start:end], options.tokenizer_model)
        if piece <= options.max_tokens:
            yield _unit(block, start=start, end=end, count=piece)
        else:
            yield from _word_units(text, start, end, block, options)


def _split(text: str, start: int, end: int, pattern: re.Pattern[str]) -> Iterator[tuple[int, int]]:
    """The spans of text[start:end] between separators, separators left out."""
    position = start
    for match in pattern.finditer(text, start, end):
        if match.start() > position:
            yield position, match.start()
        position = match.end()
    if position < end:
        yield position, end


def _word_units(
    text: str, start: int, end: int, block: Block, options: ChunkingOptions
) -> Iterator[_Unit]:
    """A long sentence cut at word boundaries (and an endless word at characters)."""
    unit_start, unit_tokens = start, 0
    for match in _WORD.finditer(text, start, end):
        word_tokens = tokens.count_text(match.group(), options.tokenizer_model)
        if word_tokens > options.max_tokens:
            if unit_tokens:
                yield _unit(block, start=unit_start, end=match.start(), count=unit_tokens)
            width = options.max_tokens * _CHARS_PER_TOKEN_FLOOR
            for piece in range(match.start(), match.end(), width):
                piece_end = min(piece + width, match.end())
                piece_tokens = tokens.count_text(text[piece:piece_end], options.tokenizer_model)
                yield _unit(block, start=piece, end=piece_end, count=piece_tokens)
            unit_start, unit_tokens = match.end(), 0
            continue
        if unit_tokens + word_tokens > options.max_tokens and unit_tokens:
            yield _unit(block, start=unit_start, end=match.start(), count=unit_tokens)
            unit_start, unit_tokens = match.start(), 0
        unit_tokens += word_tokens
    if unit_start < end and text[unit_start:end].strip():
        yield _unit(block, start=unit_start, end=end, count=unit_tokens)


def _pack(text: str, units: list[_Unit], options: ChunkingOptions, first: int) -> Iterator[Chunk]:
    """Units of one section and page packed greedily into chunks, overlapping at the seams."""
    begin = 0
    index = first
    while begin < len(units):
        stop = _fill(units, begin, options.max_tokens)
        span, count = _span(text, units, begin, stop, options.tokenizer_model)
        # Separators between units cost tokens too: give back units until the span fits.
        while count > options.max_tokens and stop - begin > 1:
            stop -= 1
            span, count = _span(text, units, begin, stop, options.tokenizer_model)
        unit = units[begin]
        yield Chunk(
            index=index,
            text=span,
            section=unit.section,
            page=unit.page,
            start=unit.start,
            end=unit.start + len(span),
            tokens=count,
            code=_code_spans(units[begin:stop], unit.start, len(span)),
        )
        index += 1
        if stop >= len(units):
            return
        begin = _overlap_start(units, begin, stop, options.overlap_tokens)


def _code_spans(units: list[_Unit], start: int, length: int) -> tuple[tuple[int, int], ...]:
    """The spans of a chunk starting at `start` that are code, a block's units joined as one."""
    spans: list[tuple[int, int]] = []
    block: int | None = None
    for unit in units:
        if unit.code is None:
            block = None
            continue
        span = (unit.start - start, min(unit.end - start, length))
        if unit.code == block:
            span = (spans.pop()[0], span[1])
        spans.append(span)
        block = unit.code
    return tuple(spans)


def _fill(units: list[_Unit], begin: int, budget: int) -> int:
    """The end of the longest run of units from `begin` within `budget` (at least one unit)."""
    stop, total = begin, 0
    while stop < len(units) and (total + units[stop].tokens + 1 <= budget or stop == begin):
        total += units[stop].tokens + 1  # about one token for the separator
        stop += 1
    return stop


def _span(text: str, units: list[_Unit], begin: int, stop: int, model: str) -> tuple[str, int]:
    span = text[units[begin].start : units[stop - 1].end].rstrip()
    return span, tokens.count_text(span, model)


def _overlap_start(units: list[_Unit], begin: int, stop: int, overlap: int) -> int:
    """Where the next chunk starts: the last units of this one that fit in `overlap` tokens."""
    next_begin, carried = stop, 0
    while next_begin - 1 > begin and carried + units[next_begin - 1].tokens <= overlap:
        next_begin -= 1
        carried += units[next_begin].tokens
    return next_begin
