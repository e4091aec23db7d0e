"""Fusion ranks by a fixed rule: identical searches return identical orders, ties included."""

from __future__ import annotations

from pathlib import Path

from knowledge.chunking import Chunk
from knowledge.embeddings import HashEmbedder
from knowledge.fusion import fuse, settled
from knowledge.index import CollectionSpec, IndexedChunk, Owner, SearchHit, TenantScope, VectorIndex
from knowledge.index_edge import EdgeIndex
from knowledge.index_server import ServerIndex
from knowledge.sparse import document_vector, identifier_vector, query_vector

HASH = HashEmbedder(64)
WORDS = ["pump", "valve", "bolt", "seal", "housing", "gasket", "flange", "motor"]


def _hit(point_id: str, score: float = 1.0, file_id: str = "f") -> SearchHit:
    return SearchHit(
        point_id=point_id, score=score, file_id=file_id, file_name="f.md", folder_id=None,
        chunk_index=0, text="", section=(), page=None, start=0, end=0,
    )  # fmt: skip


def test_exact_ties_are_broken_by_best_rank_then_list_then_id() -> None:
    dense = [_hit("d1", 0.9), _hit("both", 0.8), _hit("z-dense", 0.7)]
    sparse = [_hit("s1", 3.0), _hit("a-sparse", 2.0), _hit("both", 1.0)]
    fused = fuse([dense, sparse], [1.0, 1.0], limit=6)
    # "both" is in two lists; d1 and s1 tie at rank 1 (dense first); z-dense and a-sparse tie
    # at rank 3 and 2 of one list each: the better single-list rank wins, not the id.
    assert [item.point_id for item, _ in fused] == ["both", "d1", "s1", "a-sparse", "z-dense"]
    equal_scores = settled([_hit("b", 0.5), _hit("a", 0.5), _hit("c", 0.9)], asked=4, wanted=3)
    assert [item.point_id for item in equal_scores] == ["c", "a", "b"]
    # A full answer's last score may be shared by chunks it left out: those are dropped.
    cut = settled([_hit("b", 0.5), _hit("a", 0.5), _hit("c", 0.9)], asked=3, wanted=3)
    assert [item.point_id for item in cut] == ["c"]


def test_a_files_evidence_lifts_its_best_chunk_alone() -> None:
    # File p is second in both lists, through a different chunk in each; x and y are first in
    # one list each. Chunk by chunk x1 and y1 lead; counting each file's ranks too, p's best
    # chunk comes first while its other chunk keeps its own (lower) score.
    dense = [_hit("x1", file_id="x"), _hit("p1", file_id="p"), _hit("z1", file_id="z")]
    sparse = [_hit("y1", file_id="y"), _hit("p2", file_id="p"), _hit("w1", file_id="w")]
    chunks_alone = fuse([dense, sparse], [1.0, 1.0], limit=6)
    assert [item.point_id for item, _ in chunks_alone] == ["x1", "y1", "p1", "p2", "z1", "w1"]
    with_files = fuse([dense, sparse], [1.0, 1.0], limit=6, file_weight=1.0)
    assert [item.point_id for item, _ in with_files] == ["p1", "x1", "y1", "z1", "w1", "p2"]


def _fill(index: VectorIndex) -> None:
    index.ensure_collection(CollectionSpec(HASH.model_id, HASH.dimension))
    items = []
    for number in range(120):
        # Each text twice (in two files), and texts of like words: many exact ties in each list.
        pattern = number // 2 + 1
        text = " ".join(word for bit, word in enumerate(WORDS) if pattern >> bit & 1)
        text += f" part KX-{pattern % 3}"
        chunk = Chunk(
            index=number, text=text, section=("Parts",), page=None, start=0, end=len(text),
            tokens=8,
        )  # fmt: skip
        items.append(
            IndexedChunk(
                file_id=f"file-{number % 2}",
                file_name="parts.md",
                folder_id=None,
                owner=Owner(user_id="ann"),
                chunk=chunk,
                dense=HASH.embed_query(text),
                sparse=document_vector(text),
            )
        )
    index.upsert(items)


def _ranking(index: VectorIndex, query: str) -> list[str]:
    hits = index.search(
        TenantScope("ann"), HASH.embed_query(query), query_vector(query),
        identifiers=identifier_vector(query), limit=10,
    )  # fmt: skip
    return [hit.point_id for hit in hits]


def test_identical_searches_return_identical_orders_on_a_fresh_index_too(
    index: VectorIndex, tmp_path: Path
) -> None:
    _fill(index)
    queries = ["pump valve seal", "gasket KX-1", "housing"]
    first = [_ranking(index, query) for query in queries]
    assert [_ranking(index, query) for query in queries] == first
    assert all(len(ranking) == 10 for ranking in first)
    fresh: VectorIndex = (
        EdgeIndex(tmp_path / "fresh" / "chunks")
        if isinstance(index, EdgeIndex)
        else ServerIndex(location=":memory:")
    )
    _fill(fresh)
    assert [_ranking(fresh, query) for query in queries] == first
    fresh.close()
