"""Both index backends pass one suite: collections, upserts, deletes, filtered hybrid search."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from knowledge.chunking import Chunk
from knowledge.embeddings import HashEmbedder
from knowledge.errors import IndexModelMismatch, VectorStoreUnavailable
from knowledge.index import (
    MARK_FIELDS,
    CollectionSpec,
    CollectionState,
    IndexedChunk,
    Owner,
    TenantScope,
    VectorIndex,
)
from knowledge.index_edge import EdgeIndex
from knowledge.sparse import document_vector, identifier_vector, query_vector
from knowledge.vector_store import open_vector_index

HASH = HashEmbedder(64)
SPEC = CollectionSpec(HASH.model_id, HASH.dimension)
ANN = TenantScope("ann")
BOB = TenantScope("bob", ("team-blue",))


def _item(
    file_id: str, index: int, text: str, owner: Owner, folder: str | None = None
) -> IndexedChunk:
    chunk = Chunk(
        index=index,
        text=text,
        section=("Doc", f"Part {index}"),
        page=index + 1,
        start=index * 100,
        end=index * 100 + len(text),
        tokens=10,
    )
    return IndexedChunk(
        file_id=file_id,
        file_name=f"{file_id}.md",
        folder_id=folder,
        owner=owner,
        chunk=chunk,
        dense=HASH.embed_query(text),
        sparse=document_vector(text),
    )


def _fill(index: VectorIndex) -> None:
    assert index.ensure_collection(SPEC) is CollectionState.CREATED
    index.upsert(
        [
            _item(
                "f-ann", 0, "Ann's pump manual: bolt code KX-2291-B", Owner(user_id="ann"), "fo-1"
            ),
            _item(
                "f-ann", 1, "Ann's pump manual: valve code KX-2291-C", Owner(user_id="ann"), "fo-2"
            ),
            _item("f-blue", 0, "Blue team pump notes with code QZ-7", Owner(team_id="team-blue")),
            _item("f-bob", 0, "Bob's own pump diary", Owner(user_id="bob")),
        ]
    )


def _search(index: VectorIndex, scope: TenantScope, text: str, **options: object) -> list[str]:
    hits = index.search(scope, HASH.embed_query(text), query_vector(text), exact=True, **options)  # type: ignore[arg-type]
    return [f"{hit.file_id}#{hit.chunk_index}" for hit in hits]


def test_a_search_sees_only_the_users_and_their_teams_chunks(index: VectorIndex) -> None:
    _fill(index)
    assert sorted(_search(index, ANN, "pump")) == ["f-ann#0", "f-ann#1"]
    assert sorted(_search(index, BOB, "pump")) == ["f-blue#0", "f-bob#0"]
    assert _search(index, TenantScope("carol", ("team-red",)), "pump") == []


def test_hybrid_search_puts_the_exact_code_first_with_its_citation(index: VectorIndex) -> None:
    _fill(index)
    hits = index.search(ANN, HASH.embed_query("KX-2291-C"), query_vector("KX-2291-C"), limit=2)
    assert hits[0].file_id == "f-ann" and hits[0].chunk_index == 1
    assert (hits[0].page, hits[0].section, hits[0].start) == (2, ("Doc", "Part 1"), 100)
    assert hits[0].file_name == "f-ann.md" and "valve" in hits[0].text
    sparse_only = index.search(ANN, [0.0] * 64, query_vector("KX-2291-B"), mode="sparse")
    assert sparse_only[0].chunk_index == 0
    with_codes = index.search(
        ANN, HASH.embed_query("valve"), query_vector("valve KX-2291-B"),
        identifiers=identifier_vector("valve KX-2291-B"), limit=2,
    )  # fmt: skip
    assert with_codes[0].chunk_index == 0


def test_file_and_folder_filters_narrow_a_search(index: VectorIndex) -> None:
    _fill(index)
    assert _search(index, BOB, "pump", file_ids=["f-bob"]) == ["f-bob#0"]
    assert _search(index, ANN, "pump", folder_ids=["fo-2"]) == ["f-ann#1"]
    assert _search(index, ANN, "pump", file_ids=["f-blue"]) == []


def test_deleting_a_file_removes_its_vectors(index: VectorIndex) -> None:
    _fill(index)
    assert (index.count(), index.count(file_id="f-ann")) == (4, 2)
    assert [hit.chunk_index for hit in index.file_chunks("f-ann", version="")] == [0, 1]
    index.delete_file("f-ann")
    assert (index.count(), index.count(file_id="f-ann")) == (2, 0)
    assert _search(index, ANN, "pump") == []


def test_deleting_a_version_removes_that_version_of_that_file_alone(index: VectorIndex) -> None:
    _fill(index)  # f-ann's chunks 0 and 1 of version "" (stored before versions)
    owner = Owner(user_id="ann")
    index.upsert(
        [
            dataclasses.replace(_item("f-ann", n, f"Ann's manual, edition {v}", owner), version=v)
            for v in ("v1", "v2")
            for n in (0, 1)
        ]
    )
    index.upsert([dataclasses.replace(_item("f-bob", 5, "Bob's v1", Owner("bob")), version="v1")])
    assert (index.count(), index.count(file_id="f-ann")) == (9, 6)
    index.delete_version("f-ann", "v1")
    assert (index.count(), index.count(file_id="f-ann")) == (7, 4)
    assert [hit.text for hit in index.file_chunks("f-ann", version="v1")] == []
    assert len(index.file_chunks("f-ann", version="v2")) == 2
    assert len(index.file_chunks("f-bob", version="v1")) == 1
    index.delete_version("f-ann", "")
    assert index.count(file_id="f-ann") == 2
    assert [hit.chunk_index for hit in index.file_chunks("f-ann", version="v2")] == [0, 1]


def test_reupserting_a_file_replaces_its_chunks(index: VectorIndex) -> None:
    _fill(index)
    index.upsert([_item("f-bob", 0, "Bob's rewritten diary", Owner(user_id="bob"))])
    assert index.count(file_id="f-bob") == 1
    assert "rewritten" in index.file_chunks("f-bob", version="")[0].text


def test_a_change_of_model_is_reported_and_vectors_of_another_size_refused(
    index: VectorIndex,
) -> None:
    _fill(index)
    assert index.ensure_collection(SPEC) is CollectionState.READY
    other = CollectionSpec("sentence-transformers/other-model", 64)
    assert index.ensure_collection(other) is CollectionState.MODEL_CHANGED
    wrong = IndexedChunk(
        file_id="f-x",
        file_name="x",
        folder_id=None,
        owner=Owner(user_id="ann"),
        chunk=_item("f", 0, "t", Owner(user_id="a")).chunk,
        dense=[0.1] * 8,
        sparse=query_vector("t"),
    )
    with pytest.raises(IndexModelMismatch):
        index.upsert([wrong])
    index.reset_collection(other)
    assert index.count() == 0
    assert index.ensure_collection(other) is CollectionState.READY


def test_optimizing_in_the_background_keeps_results(index: VectorIndex) -> None:
    _fill(index)
    index.optimize_in_background().result(timeout=60)
    assert sorted(_search(index, ANN, "pump")) == ["f-ann#0", "f-ann#1"]


def test_a_scope_without_a_user_cannot_be_made() -> None:
    with pytest.raises(ValueError):
        TenantScope("")
    with pytest.raises(ValueError):
        TenantScope("ann", ("",))
    with pytest.raises(ValueError):
        Owner(user_id="ann", team_id="team-blue")


def test_a_second_process_cannot_open_the_embedded_index(tmp_path: Path) -> None:
    import subprocess
    import sys

    first = EdgeIndex(tmp_path / "chunks")
    first.ensure_collection(SPEC)
    script = (
        "import sys; from pathlib import Path; from knowledge.index_edge import EdgeIndex\n"
        "from knowledge.errors import VectorStoreUnavailable\n"
        "try:\n EdgeIndex(Path(sys.argv[1])).count()\n"
        "except VectorStoreUnavailable as e:\n print('unavailable', e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "chunks")],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    first.close()
    assert result.stdout.startswith("unavailable"), result.stderr
    assert "SWITCHBOARD_QDRANT_URL" in result.stdout


def test_with_several_workers_and_no_server_knowledge_is_unavailable(tmp_path: Path) -> None:
    index = open_vector_index(data_dir=tmp_path, workers=4)
    with pytest.raises(VectorStoreUnavailable) as caught:
        index.count()
    assert "SWITCHBOARD_QDRANT_URL" in caught.value.message
    assert caught.value.code == "vector_store_unavailable"
    assert not (tmp_path / "qdrant-edge").exists()
    assert isinstance(open_vector_index(data_dir=tmp_path), EdgeIndex)


def test_an_embedded_index_made_before_embedding_keys_is_given_their_field_index(
    tmp_path: Path,
) -> None:
    """Indexing looks chunks up by embedding key: an index of an older version gets the key's
    field index when it is opened, its chunks kept."""
    from qdrant_edge import UpdateOperation

    older = EdgeIndex(tmp_path / "chunks")
    _fill(older)
    older._open().update(UpdateOperation.delete_field_index("embedding_key"))
    assert "embedding_key" not in older._open().info().payload_schema
    older.close()
    reopened = EdgeIndex(tmp_path / "chunks")
    try:
        assert reopened.ensure_collection(SPEC) is CollectionState.READY
        assert "embedding_key" in reopened._open().info().payload_schema
        assert reopened.count() == 4
    finally:
        reopened.close()


def test_an_embedded_index_made_before_versions_is_given_the_marks_field_indexes(
    tmp_path: Path,
) -> None:
    """Every search filters on the re-index marks: an older index gets their field indexes when
    it is opened, and its chunks (which have no marks) stay searchable."""
    from qdrant_edge import UpdateOperation

    older = EdgeIndex(tmp_path / "chunks")
    _fill(older)
    for field in MARK_FIELDS:
        older._open().update(UpdateOperation.delete_field_index(field))
    assert not set(MARK_FIELDS) & set(older._open().info().payload_schema)
    older.close()
    reopened = EdgeIndex(tmp_path / "chunks")
    try:
        assert reopened.ensure_collection(SPEC) is CollectionState.READY
        assert set(MARK_FIELDS) <= set(reopened._open().info().payload_schema)
        assert sorted(_search(reopened, ANN, "pump")) == ["f-ann#0", "f-ann#1"]
    finally:
        reopened.close()


def test_a_collection_recorded_before_model_digests_is_kept_until_the_model_files_change(
    index: VectorIndex,
) -> None:
    """Model ids end with a digest of the model's files (`knowledge.model_files`); an index built
    before that is kept for the same model, and then notices when the files change."""
    plain = CollectionSpec("org/model@onnx-int8", 64)
    assert index.ensure_collection(plain) is CollectionState.CREATED
    index.upsert([_item("f-ann", 0, "Ann's pump manual", Owner(user_id="ann"))])
    digested = CollectionSpec("org/model@onnx-int8#0123456789abcdef", 64)
    assert index.ensure_collection(digested) is CollectionState.READY
    assert index.ensure_collection(digested) is CollectionState.READY
    assert index.count() == 1
    replaced = CollectionSpec("org/model@onnx-int8#fedcba9876543210", 64)
    assert index.ensure_collection(replaced) is CollectionState.MODEL_CHANGED
    other = CollectionSpec("org/other-model@onnx-int8#0123456789abcdef", 64)
    assert index.ensure_collection(other) is CollectionState.MODEL_CHANGED
