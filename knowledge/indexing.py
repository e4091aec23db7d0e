"""Indexing a parsed document: chunk it, embed the chunks in batches, store them with the owner."""

from __future__ import annotations

from collections.abc import Callable

from knowledge.chunking import Chunk, ChunkingOptions, chunk_document
from knowledge.documents import ParsedDocument
from knowledge.embeddings import Embedder
from knowledge.index import IndexedChunk, Owner, VectorIndex
from knowledge.sparse import document_vector

Progress = Callable[[int, int], None]
_BATCH = 64


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
) -> list[Chunk]:
    """Replace a file's chunks in the index with those of `document`; returns the chunks.

    Blocking (embedding takes a while): run it in a job or a thread. `progress(done, total)`
    is called after each batch of chunks is stored.

    Raises:
        VectorStoreUnavailable: the index cannot be reached.
        IndexModelMismatch: the index was built with a model of another vector size.
        EmbeddingModelUnavailable: the embedding model cannot be loaded.
    """
    chunks = chunk_document(document, options)
    index.delete_file(file_id)
    for begin in range(0, len(chunks), _BATCH):
        batch = chunks[begin : begin + _BATCH]
        vectors = embedder.embed_documents([chunk.embedding_text for chunk in batch])
        index.upsert(
            [
                IndexedChunk(
                    file_id=file_id,
                    file_name=file_name,
                    folder_id=folder_id,
                    owner=owner,
                    chunk=chunk,
                    dense=vector,
                    sparse=document_vector(chunk.embedding_text),
                )
                for chunk, vector in zip(batch, vectors, strict=True)
            ]
        )
        if progress is not None:
            progress(begin + len(batch), len(chunks))
    return chunks
