"""What the dense vector of a chunk sees: variants of `Chunk.embedding_text` for bench/retrieval.py.

The chunks, their stored text, BM25 and identifier vectors stay as the server makes them; only
the text handed to the embedder changes (`DenseTextEmbedder` swaps it at the `Embedder` seam).
Variants, combinable with "+":

- `server`: `Chunk.embedding_text`, what the server embeds (the default; no swap).
- `full`: the heading path, then the chunk's whole text (the server's before the sixth pass).
- `no-code`: code blocks (`BlockKind.CODE`: `<pre>`, fenced blocks, `>>>` sessions) left out;
  a chunk of code only keeps each block's first line.
- `code-first-line`: each code block cut to its first line within the chunk.
- `no-overlap`: the prefix a chunk shares with the previous chunk of its section left out.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from knowledge.chunking import Chunk
from knowledge.documents import BlockKind, ParsedDocument
from knowledge.embeddings import Embedder

VARIANTS = ("server", "full", "no-code", "code-first-line", "no-overlap")


def check_variant(variant: str) -> str:
    parts = variant.split("+")
    unknown = [part for part in parts if part not in VARIANTS]
    if "server" in parts and len(parts) > 1:
        unknown.append("server")
    if unknown or ("no-code" in parts and "code-first-line" in parts):
        raise SystemExit(f"--dense-text {variant!r}: combine some of {', '.join(VARIANTS)}")
    return variant


def _code_spans(document: ParsedDocument) -> list[tuple[int, int]]:
    return [(block.start, block.end) for block in document.blocks if block.kind is BlockKind.CODE]


def _body(text: str, start: int, end: int, code: Sequence[tuple[int, int]], keep: str) -> str:
    """text[start:end] with the code blocks in it dropped ("") or cut to their first line."""
    pieces: list[str] = []
    position = start
    for code_start, code_end in code:
        if code_end <= position or code_start >= end:
            continue
        pieces.append(text[position : max(position, code_start)])
        inside = text[max(position, code_start) : min(end, code_end)]
        if keep == "first-line":
            pieces.append(inside.strip().split("\n", 1)[0])
        position = min(end, code_end)
    pieces.append(text[position:end])
    return "\n".join(piece.strip() for piece in pieces if piece.strip())


def dense_texts(document: ParsedDocument, chunks: Sequence[Chunk], variant: str) -> list[str]:
    """The text each chunk's dense vector is made from, under `variant`."""
    parts = variant.split("+")
    code = _code_spans(document) if {"no-code", "code-first-line"} & set(parts) else []
    texts = []
    previous: Chunk | None = None
    for chunk in chunks:
        start = chunk.start
        same_run = previous is not None and (previous.section, previous.page) == (
            chunk.section,
            chunk.page,
        )
        if "no-overlap" in parts and previous is not None and same_run:
            start = max(start, min(previous.end, chunk.end))
        previous = chunk
        if "no-code" in parts:
            body = _body(document.text, start, chunk.end, code, "")
            body = body or _body(document.text, start, chunk.end, code, "first-line")
        elif "code-first-line" in parts:
            body = _body(document.text, start, chunk.end, code, "first-line")
        elif start == chunk.start:
            body = chunk.text
        else:
            body = document.text[start : chunk.end].strip()
        body = body or chunk.text
        texts.append(" > ".join(chunk.section) + "\n" + body if chunk.section else body)
    return texts


@dataclasses.dataclass
class DenseTextEmbedder:
    """An embedder that embeds each chunk's variant text in place of `Chunk.embedding_text`
    (set per document in `swap`) and writes every text it embedded to a temporary file, to
    count word pieces afterwards. A file, not a list: the bench measures this process's memory
    once indexing is done, as a server's, and ~12,000 texts held here would add ~15 MB a server
    never holds."""

    inner: Embedder
    variant: str = "server"
    swap: dict[str, str] = dataclasses.field(default_factory=dict)
    count: int = 0
    _sink: IO[str] = dataclasses.field(
        default_factory=lambda: tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed with the process)
    )

    def embedded(self) -> Iterator[str]:
        """Every text embedded so far, in order."""
        self._sink.flush()
        self._sink.seek(0)
        for line in self._sink:
            yield json.loads(line)
        self._sink.seek(0, 2)

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        swapped = [self.swap.get(text, text) for text in texts]
        self._sink.writelines(json.dumps(text) + "\n" for text in swapped)
        self.count += len(swapped)
        return self.inner.embed_documents(swapped)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_queries(texts)


def word_pieces(texts: Iterable[str], cache: Path) -> int:
    """Word pieces the bundled model's tokenizer makes of `texts` ([CLS] and [SEP] included),
    truncated at its 256 as the embedder truncates."""
    from tokenizers import Tokenizer

    found = sorted(cache.glob("sentence-transformers-all-MiniLM-L6-v2-*/tokenizer.json"))
    if not found:
        return 0
    tokenizer = Tokenizer.from_file(str(found[-1]))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.no_padding()
    return sum(len(encoding.ids) for encoding in tokenizer.encode_batch(list(texts)))
