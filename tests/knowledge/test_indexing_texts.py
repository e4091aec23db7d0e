"""What indexing embeds (a chunk's prose) and what keyword search reads (all of it), and an index
built when the whole text was embedded (real model, both backends)."""

from __future__ import annotations

from knowledge.chunking import Chunk, ChunkingOptions, chunk_document
from knowledge.documents import ParsedDocument, ParseLimits
from knowledge.embeddings import Embedder
from knowledge.index import CollectionSpec, IndexedChunk, Owner, TenantScope, VectorIndex
from knowledge.indexing import embedding_key, index_document
from knowledge.retrieval import retrieve
from knowledge.sparse import document_vector
from knowledge.text_files import parse_markdown
from tests.knowledge.test_indexing import CountingEmbedder

OPTIONS = ChunkingOptions(max_tokens=60, overlap_tokens=10)
ANN = Owner(user_id="ann")
SCOPE = TenantScope("ann")
GUIDE = """# Widgets

## Turning

A widget turns when its crank is wound clockwise by hand.

```
>>> from widgets import frobnicate_widget
>>> frobnicate_widget(speed=3, reverse=False)
Widget(turns=3)
```

## Storing

Keep widgets dry and away from sunlight between uses.
"""


def _guide() -> ParsedDocument:
    return parse_markdown(GUIDE.encode(), ParseLimits())


def _index(index: VectorIndex, embedder: Embedder) -> list[Chunk]:
    return index_document(
        index=index, embedder=embedder, document=_guide(), file_id="f-1",
        file_name="widgets.md", owner=ANN, options=OPTIONS,
    )  # fmt: skip


def _found(index: VectorIndex, embedder: Embedder, query: str) -> list[str]:
    passages = retrieve(index=index, embedder=embedder, scope=SCOPE, query=query, limit=3)
    return [passage.text for passage in passages]


def test_code_is_found_by_keywords_while_only_the_prose_is_embedded(
    index: VectorIndex, embedder: Embedder
) -> None:
    index.ensure_collection(CollectionSpec(embedder.model_id, embedder.dimension))
    counting = CountingEmbedder(embedder)
    chunks = _index(index, counting)
    assert any("frobnicate_widget(speed=3" in chunk.text for chunk in chunks)
    assert counting.texts and not any("frobnicate" in text for text in counting.texts)
    assert any("crank is wound" in text for text in counting.texts)
    assert "frobnicate_widget(speed=3" in _found(index, embedder, "frobnicate_widget reverse")[0]
    assert "crank is wound" in _found(index, embedder, "how do I make it rotate")[0]


def test_an_index_of_whole_texts_stays_searchable_and_reembeds_only_chunks_with_code(
    index: VectorIndex, embedder: Embedder
) -> None:
    index.ensure_collection(CollectionSpec(embedder.model_id, embedder.dimension))
    chunks = chunk_document(_guide(), OPTIONS)
    index.upsert(  # as indexing stored them when the embedding read the whole text
        [
            IndexedChunk(
                file_id="f-1", file_name="widgets.md", folder_id=None, owner=ANN, chunk=chunk,
                dense=embedder.embed_documents([chunk.search_text])[0],
                sparse=document_vector(chunk.search_text),
                embedding_key=embedding_key(embedder, chunk.search_text),
            )
            for chunk in chunks
        ]
    )  # fmt: skip
    assert "frobnicate_widget(speed=3" in _found(index, embedder, "frobnicate_widget reverse")[0]
    assert "crank is wound" in _found(index, embedder, "how do I make it rotate")[0]

    counting = CountingEmbedder(embedder)
    _index(index, counting)  # a re-index: the prose-only chunks keep their stored vectors
    with_code = [chunk.embedding_text for chunk in chunks if chunk.code]
    assert with_code and counting.texts == with_code
    assert len(with_code) < len(chunks)
    counting.texts.clear()
    _index(index, counting)
    assert counting.texts == []
    assert "frobnicate_widget(speed=3" in _found(index, embedder, "frobnicate_widget reverse")[0]
    assert "crank is wound" in _found(index, embedder, "how do I make it rotate")[0]
