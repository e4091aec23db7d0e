"""Indexing a parsed document: chunk it, embed the chunks in batches, store them with the owner.

A chunk's dense vector depends only on the exact text the embedder sees (`Chunk.embedding_text`)
and on the model, so each chunk is stored with an `embedding_key`, a digest of both. Before
embedding, the vectors already stored under the file's keys are read back from the owner's own
chunks (the file's previous version, the same text in another of the owner's files; never another
user's or team's: `VectorIndex.stored_vectors`) and only the misses are embedded. Re-indexing an
edited file embeds its changed chunks, re-indexing an unchanged one embeds nothing.
The BM25 vector is made from the whole chunk (`Chunk.search_text`), the dense one from its prose
only (code blocks left out). Chunks stored when the whole chunk was embedded keep their vectors
if they hold no code (same text, same key); those holding code miss and are embedded once more at
their file's next indexing, and until then are found by their old vectors.

Each indexing, the first of a file as every later one, writes its chunks under a new version
(`new_version`) beside the file's live one. Searches return a file's chunks only from its live
version, which the library records on the file's row (`LibraryFile.live_version`) and the worker
sets in one database write once every chunk of the new version is stored
(`knowledge.worker`); the hits of a search are checked against it (`knowledge.retrieval`). So a
search sees the whole old version until that write and the whole new one after it, on both
backends, whatever order the index applies its writes in; a file whose first indexing has not
completed (failed, stopped, the process killed, its claim lost to another worker) has no live
version and none of its chunks is found. What unfinished runs left is deleted at the start of
the file's next indexing, once the run has renewed its claim (`VectorIndex.settle_file`), and the
version replaced right after the write that flips (`VectorIndex.delete_version`; that one only,
so a newer run already writing is never cut short). Files indexed before versions were recorded
on rows have live version "", that of their chunks, and stay searchable until re-indexed.
"""

from __future__ import annotations

import hashlib
import secrets
from array import array
from collections import Counter
from collections.abc import Callable, Sequence

from knowledge.chunking import Chunk, ChunkingOptions, chunk_document
from knowledge.documents import ParsedDocument
from knowledge.embeddings import Embedder
from knowledge.index import IndexedChunk, Owner, VectorIndex
from knowledge.sparse import document_vector

Progress = Callable[[int, int], None]
_BATCH = 64


def embedding_key(embedder: Embedder, text: str) -> str:
    """The digest a chunk's dense vector is stored under: the model's identity and the text.

    `model_id` names the model and its backend (an int8 ONNX export and plain torch differ) and,
    for a local model, ends with a digest of its files (`knowledge.model_files`); the vector size
    is part of it too, so a change of model, or of a model's files, never finds the old vectors.
    """
    identity = f"{embedder.model_id}\n{embedder.dimension}\n"
    return hashlib.sha256((identity + text).encode()).hexdigest()[:32]


def new_version() -> str:
    """A version for one indexing of a file (unique: it names the chunks' ids)."""
    return secrets.token_hex(8)


def index_document(
    *,
    index: VectorIndex,
    embedder: Embedder,
    document: ParsedDocument,
    file_id: str,
    file_name: str,
    owner: Owner,
    folder_id: str | None = None,
    options: ChunkingOptions | None = None,
    progress: Progress | None = None,
    version: str = "",
    live: str | None = "",
) -> list[Chunk]:
    """Store the chunks of `document` as the file's `version`, beside its `live` one (the
    version searches return, None if none); returns the chunks.

    The file's chunks of other versions than `live` (what unfinished runs left) are deleted
    first. The caller makes `version` live once this returns (the worker, in the database) and
    then deletes the one it replaced (`VectorIndex.delete_version`). Without a database (tests,
    benchmarks) `version` and `live` are both "", as chunks were stored before versions: the
    file's chunks are then deleted and written again, not kept whole.

    Blocking (embedding takes a while): run it in a job or a thread. `progress(done, total)`
    is called after each batch of chunks has its vector (reused or embedded), the last time with
    `done == total` just before the index is written; raising there stops the indexing before
    anything is written. The writes that follow are not interrupted (the worker checks
    afterwards whether the file was deleted meanwhile); if one fails, the version is never live.

    Raises:
        VectorStoreUnavailable: the index cannot be reached.
        IndexModelMismatch: the index was built with a model of another vector size.
        EmbeddingModelUnavailable: the embedding model cannot be loaded.
    """
    chunks = chunk_document(document, options)
    texts = [chunk.embedding_text for chunk in chunks]
    keys = [embedding_key(embedder, text) for text in texts]
    vectors = _vectors(index, embedder, owner, keys, texts, progress)
    index.settle_file(file_id, None if version == live else live)
    for begin in range(0, len(chunks), _BATCH):
        index.upsert(
            [
                IndexedChunk(
                    file_id=file_id,
                    file_name=file_name,
                    folder_id=folder_id,
                    owner=owner,
                    chunk=chunk,
                    dense=vectors[key],
                    sparse=document_vector(chunk.search_text),
                    embedding_key=key,
                    version=version,
                )
                for chunk, key in zip(
                    chunks[begin : begin + _BATCH], keys[begin : begin + _BATCH], strict=True
                )
            ]
        )
    return chunks


def _vectors(
    index: VectorIndex,
    embedder: Embedder,
    owner: Owner,
    keys: Sequence[str],
    texts: Sequence[str],
    progress: Progress | None,
) -> dict[str, Sequence[float]]:
    """A dense vector for every key: the owner's stored ones, the rest embedded in batches
    (a text repeated in the file is embedded once). Kept as float32 arrays until stored."""
    vectors: dict[str, Sequence[float]] = dict(index.stored_vectors(owner, sorted(set(keys))))
    misses = {key: text for key, text in zip(keys, texts, strict=True) if key not in vectors}
    chunks_of = Counter(keys)  # a text repeated in the file: its chunks all done at once
    done = len(keys) - sum(chunks_of[key] for key in misses)
    pending = list(misses.items())
    for begin in range(0, len(pending), _BATCH):
        batch = pending[begin : begin + _BATCH]
        embedded = embedder.embed_documents([text for _, text in batch])
        for (key, _), vector in zip(batch, embedded, strict=True):
            vectors[key] = array("f", vector)
            done += chunks_of[key]
        if progress is not None:
            progress(done, len(keys))
    if progress is not None and not pending:
        progress(done, len(keys))
    return vectors
