"""Re-indexing reuses the owner's stored vectors of unchanged chunks (real model, both backends)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from knowledge.chunking import ChunkingOptions, chunk_document
from knowledge.documents import ParsedDocument, ParseLimits
from knowledge.embeddings import Embedder, bundled_model_path, load_embedder
from knowledge.errors import VectorStoreUnavailable
from knowledge.index import CollectionSpec, IndexedChunk, Owner, TenantScope, VectorIndex
from knowledge.index_edge import EdgeIndex
from knowledge.index_server import ServerIndex
from knowledge.indexing import embedding_key, index_document
from knowledge.retrieval import retrieve
from knowledge.sparse import document_vector
from knowledge.text_files import parse_markdown
from tests.knowledge.samples import Section, markdown_file

OPTIONS = ChunkingOptions(max_tokens=60, overlap_tokens=10)
ANN = Owner(user_id="ann")
BLUE = Owner(team_id="team-blue")
RED = Owner(team_id="team-red")
TOPICS = [
    ("Pumps", "The centrifugal pump moves water by spinning an impeller inside a volute casing."),
    ("Valves", "A gate valve shuts the flow completely; a globe valve throttles it finely."),
    ("Bearings", "Ball bearings carry radial loads and need grease every six months of duty."),
    ("Seals", "Mechanical seals stop leaks where the shaft leaves the pump housing."),
    ("Motors", "Induction motors turn at slightly less than synchronous speed under load."),
    ("Filters", "Cartridge filters catch sand and rust before they reach the spray nozzles."),
    ("Pipes", "Copper pipes resist corrosion but cost more than plastic ones of equal size."),
    ("Gauges", "A Bourdon tube gauge shows pressure by the bending of a curved metal tube."),
]
QUERIES = [
    "how often should bearings be greased",
    "which valve throttles the flow",
    "what stops leaks at the shaft",
    "how is pressure measured",
    "why choose copper pipes",
]


class CountingEmbedder:
    """The real model, counting the texts indexing asks it to embed (the `Embedder` seam)."""

    def __init__(self, model: Embedder) -> None:
        self.model = model
        self.texts: list[str] = []

    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def dimension(self) -> int:
        return self.model.dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return self.model.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_query(text)

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self.model.embed_queries(texts)


def _document(edited: dict[str, str] | None = None) -> ParsedDocument:
    sections: list[Section] = []
    for heading, sentence in TOPICS:
        lead = (edited or {}).get(heading, sentence)
        sections.append((heading, [lead, f"{sentence} Check the {heading.lower()} yearly."]))
    return parse_markdown(markdown_file(sections), ParseLimits())


EDITED = {"Seals": "Lip seals, unlike mechanical seals, wear against the rotating shaft."}


def _index(
    index: VectorIndex,
    embedder: Embedder,
    document: ParsedDocument,
    file_id: str = "f-1",
    owner: Owner = ANN,
) -> int:
    chunks = index_document(
        index=index,
        embedder=embedder,
        document=document,
        file_id=file_id,
        file_name=f"{file_id}.md",
        owner=owner,
        options=OPTIONS,
    )
    return len(chunks)


def _ready(index: VectorIndex, embedder: Embedder) -> CountingEmbedder:
    index.ensure_collection(CollectionSpec(embedder.model_id, embedder.dimension))
    return CountingEmbedder(embedder)


def _results(index: VectorIndex, embedder: Embedder, scope: TenantScope) -> list[list[tuple]]:  # type: ignore[type-arg]
    return [
        [
            (p.citation.file_id, p.chunk_index, p.text, round(p.score, 4))
            for p in retrieve(index=index, embedder=embedder, scope=scope, query=query, limit=5)
        ]
        for query in QUERIES
    ]


def test_an_edited_file_embeds_only_its_changed_chunks(
    index: VectorIndex, embedder: Embedder
) -> None:
    counting = _ready(index, embedder)
    before, after = _document(), _document(EDITED)
    total = _index(index, counting, before)
    assert len(counting.texts) == total > len(TOPICS)
    old = {chunk.embedding_text for chunk in chunk_document(before, OPTIONS)}
    changed = [
        c.embedding_text for c in chunk_document(after, OPTIONS) if c.embedding_text not in old
    ]
    assert changed and all("Lip seals" in text for text in changed)

    counting.texts.clear()
    _index(index, counting, after)
    assert counting.texts == changed
    counting.texts.clear()
    _index(index, counting, after)  # unchanged: nothing to embed
    assert counting.texts == []
    assert index.count(file_id="f-1") == len(chunk_document(after, OPTIONS))


def test_search_after_a_reindex_equals_a_fresh_index_and_survives_optimisation(
    tmp_path: Path, embedder: Embedder
) -> None:
    reused, fresh = EdgeIndex(tmp_path / "reused" / "c"), EdgeIndex(tmp_path / "fresh" / "c")
    scope = TenantScope("ann")
    try:
        counting = _ready(reused, embedder)
        _index(reused, counting, _document())
        _index(reused, counting, _document(EDITED))
        _index(fresh, _ready(fresh, embedder), _document(EDITED))
        expected = _results(fresh, embedder, scope)
        assert any("Lip seals" in hit[2] for hit in expected[2])
        assert _results(reused, embedder, scope) == expected
        reused.optimize_in_background().result(timeout=60)
        assert _results(reused, embedder, scope) == expected
        counting.texts.clear()
        _index(reused, counting, _document(EDITED))  # vectors read back after optimisation
        assert counting.texts == []
        assert _results(reused, embedder, scope) == expected
    finally:
        reused.close()
        fresh.close()


def test_the_qdrant_client_path_gives_a_fresh_index_results(embedder: Embedder) -> None:
    reused, fresh = ServerIndex(location=":memory:"), ServerIndex(location=":memory:")
    scope = TenantScope("ann")
    counting = _ready(reused, embedder)
    _index(reused, counting, _document())
    _index(reused, counting, _document(EDITED))
    _index(fresh, _ready(fresh, embedder), _document(EDITED))
    assert _results(reused, embedder, scope) == _results(fresh, embedder, scope)


def test_another_tenants_identical_text_is_never_reused(
    index: VectorIndex, embedder: Embedder
) -> None:
    counting = _ready(index, embedder)
    total = _index(index, counting, _document(), "f-blue", BLUE)
    for file_id, owner in [("f-red", RED), ("f-ann", ANN), ("f-bob", Owner(user_id="bob"))]:
        counting.texts.clear()
        _index(index, counting, _document(), file_id, owner)
        assert len(counting.texts) == total, owner
    counting.texts.clear()
    _index(index, counting, _document(), "f-blue-copy", BLUE)  # the same team's copy
    assert counting.texts == []
    assert index.count() == 5 * total


def test_a_change_of_model_embeds_everything_again(
    index: VectorIndex, embedder: Embedder, torch_embedder: Embedder
) -> None:
    total = _index(index, _ready(index, embedder), _document())
    assert torch_embedder.model_id != embedder.model_id
    assert torch_embedder.dimension == embedder.dimension
    other = CountingEmbedder(torch_embedder)
    _index(index, other, _document())
    assert len(other.texts) == total


def test_a_reindex_stopped_while_embedding_keeps_the_previous_version(
    index: VectorIndex, embedder: Embedder
) -> None:
    counting = _ready(index, embedder)
    total = _index(index, counting, _document())

    class Stop(Exception):
        pass

    def stop(done: int, total: int) -> None:
        raise Stop

    bigger = _document(
        {heading: f"New text about {heading} number {n}." for n, (heading, _) in enumerate(TOPICS)}
    )
    with pytest.raises(Stop):
        index_document(
            index=index, embedder=counting, document=bigger, file_id="f-1",
            file_name="f-1.md", owner=ANN, options=OPTIONS, progress=stop,
        )  # fmt: skip
    texts = [hit.text for hit in index.file_chunks("f-1")]
    assert len(texts) == total and not any("New text" in text for text in texts)


def test_every_progress_report_comes_before_the_index_is_written(
    index: VectorIndex, embedder: Embedder
) -> None:
    """So a stop raised from it never leaves a file half replaced, and the worker's own check
    after the writes (was the file deleted meanwhile?) is the one that sees the end."""
    counting = _ready(index, embedder)
    _index(index, counting, _document())
    before = [hit.text for hit in index.file_chunks("f-1")]
    seen: list[tuple[int, int, list[str]]] = []

    def report(done: int, total: int) -> None:
        seen.append((done, total, [hit.text for hit in index.file_chunks("f-1")]))

    index_document(
        index=index, embedder=counting, document=_document(EDITED), file_id="f-1",
        file_name="f-1.md", owner=ANN, options=OPTIONS, progress=report,
    )  # fmt: skip
    assert seen and seen[-1][0] == seen[-1][1]
    assert all(texts == before for _, _, texts in seen)
    assert [hit.text for hit in index.file_chunks("f-1")] != before


def test_a_shorter_version_drops_the_old_versions_extra_chunks(
    index: VectorIndex, embedder: Embedder
) -> None:
    counting = _ready(index, embedder)
    _index(index, counting, _document())
    shorter = parse_markdown(markdown_file([("Pumps", [TOPICS[0][1]])]), ParseLimits())
    old = {chunk.embedding_text for chunk in chunk_document(_document(), OPTIONS)}
    new = [chunk.embedding_text for chunk in chunk_document(shorter, OPTIONS)]
    counting.texts.clear()
    kept = _index(index, counting, shorter)
    assert [hit.chunk_index for hit in index.file_chunks("f-1")] == list(range(kept))
    assert counting.texts == [text for text in new if text not in old]


def test_files_of_one_owner_indexed_at_once_each_end_whole(
    tmp_path: Path, embedder: Embedder
) -> None:
    index = EdgeIndex(tmp_path / "edge" / "c")
    try:
        counting = _ready(index, embedder)
        _index(index, counting, _document(), "f-1")
        documents = {"f-1": _document(EDITED), "f-2": _document(EDITED), "f-3": _document()}
        with ThreadPoolExecutor(3) as pool:
            counts = dict(
                zip(
                    documents,
                    pool.map(lambda f: _index(index, counting, documents[f], f), documents),
                    strict=True,
                )
            )
        for file_id, document in documents.items():
            stored = [hit.text for hit in index.file_chunks(file_id)]
            expected = [chunk.text for chunk in chunk_document(document, OPTIONS)]
            assert stored == expected and counts[file_id] == len(expected)
    finally:
        index.close()


REVISED = parse_markdown(
    markdown_file(
        [(heading, [f"Revised: {sentence}"]) for heading, sentence in TOPICS[:5]]
    ).replace(b"# Handbook", b"# Revised handbook"),
    ParseLimits(),
)  # shorter than `_document()`, and no text in common with it


def _break_once(monkeypatch: pytest.MonkeyPatch, index: VectorIndex, step: str) -> None:
    """Make the real index fail once at one step of the next re-index (the vector-store seam):
    half-way through writing the new chunks, at the first write after them, or just after the
    write that swaps the new version in."""
    upsert, delete_file, commit = index.upsert, index.delete_file, index.commit_version
    broken: list[str] = []

    def fail() -> None:
        broken.append(step)
        raise VectorStoreUnavailable(f"broken on purpose: {step}")

    def upsert_then_fail(chunks: Sequence[IndexedChunk]) -> None:
        upsert(chunks[: len(chunks) // 2] if step == "mid-upsert" and not broken else chunks)
        if step == "mid-upsert" and not broken:
            fail()

    def delete_or_fail(file_id: str) -> None:
        if step == "before-swap" and not broken:
            fail()  # where the old version's extra chunks were deleted, before versions
        delete_file(file_id)

    def commit_around_failure(file_id: str, version: str) -> None:
        if step == "before-swap" and not broken:
            fail()
        commit(file_id, version)
        if step == "after-swap" and not broken:
            fail()

    monkeypatch.setattr(index, "upsert", upsert_then_fail)
    monkeypatch.setattr(index, "delete_file", delete_or_fail)
    monkeypatch.setattr(index, "commit_version", commit_around_failure)


def _searched_texts(index: VectorIndex, embedder: Embedder) -> set[str]:
    scope = TenantScope("ann")
    return {
        passage.text
        for query in QUERIES
        for passage in retrieve(index=index, embedder=embedder, scope=scope, query=query, limit=5)
    }


@pytest.mark.parametrize("step", ["mid-upsert", "before-swap", "after-swap"])
def test_a_reindex_failing_at_any_step_leaves_one_whole_version_searchable(
    index: VectorIndex,
    embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    step: str,
) -> None:
    counting = _ready(index, embedder)
    _index(index, counting, _document())
    old = [chunk.text for chunk in chunk_document(_document(), OPTIONS)]
    new = [chunk.text for chunk in chunk_document(REVISED, OPTIONS)]
    assert len(new) < len(old) and not set(old) & set(new)

    with monkeypatch.context() as patched:
        _break_once(patched, index, step)
        with pytest.raises(VectorStoreUnavailable, match=step):
            _index(index, counting, REVISED)
    if isinstance(index, EdgeIndex):  # as after a crash there: what the folder holds
        index.close()
        index = EdgeIndex(index._folder)
        request.addfinalizer(index.close)
    whole = new if step == "after-swap" else old
    assert [hit.text for hit in index.file_chunks("f-1")] == whole
    found = _searched_texts(index, embedder)
    assert found and found <= set(whole)

    counting.texts.clear()
    _index(index, counting, REVISED)  # the next run cleans up what the failed one left
    assert [hit.text for hit in index.file_chunks("f-1")] == new
    assert index.count(file_id="f-1") == len(new)
    assert _searched_texts(index, embedder) <= set(new)
    # What the failed run stored is reused: after a mid-upsert failure, only the half not written
    # is embedded again.
    embedded = [chunk.embedding_text for chunk in chunk_document(REVISED, OPTIONS)]
    assert counting.texts == (embedded[len(new) // 2 :] if step == "mid-upsert" else [])


def test_chunks_stored_before_versions_stay_searchable_until_replaced_whole(
    index: VectorIndex, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = _ready(index, embedder)
    chunks = chunk_document(_document(), OPTIONS)
    index.upsert(  # as indexing wrote them before versions: plain ids, no marks
        [
            IndexedChunk(
                file_id="f-1", file_name="f-1.md", folder_id=None, owner=ANN, chunk=chunk,
                dense=embedder.embed_documents([chunk.embedding_text])[0],
                sparse=document_vector(chunk.embedding_text),
                embedding_key=embedding_key(embedder, chunk.embedding_text),
            )
            for chunk in chunks
        ]
    )  # fmt: skip
    old = [chunk.text for chunk in chunks]
    assert [hit.text for hit in index.file_chunks("f-1")] == old
    assert _searched_texts(index, embedder) <= set(old)
    with monkeypatch.context() as patched:
        _break_once(patched, index, "mid-upsert")
        with pytest.raises(VectorStoreUnavailable):
            _index(index, counting, REVISED)
    assert [hit.text for hit in index.file_chunks("f-1")] == old
    _index(index, counting, REVISED)
    new = [chunk.text for chunk in chunk_document(REVISED, OPTIONS)]
    assert [hit.text for hit in index.file_chunks("f-1")] == new
    assert index.count(file_id="f-1") == len(new)


def test_a_model_whose_weights_change_in_place_reuses_none_of_its_old_vectors(
    index: VectorIndex, tmp_path: Path
) -> None:
    folder = tmp_path / "my-model"
    shutil.copytree(bundled_model_path(), folder)
    before = load_embedder(str(folder), backend="torch", cache_dir=tmp_path / "first")
    total = _index(index, _ready(index, before), _document())

    weights = folder / "model.safetensors"  # fine-tuned in place: same name, same size
    tensors = safetensors.numpy.load_file(str(weights))
    name = next(key for key in sorted(tensors) if key.endswith("word_embeddings.weight"))
    tensors[name] = tensors[name] * np.float32(1.01)
    safetensors.numpy.save_file(tensors, str(weights))
    after = load_embedder(str(folder), backend="torch", cache_dir=tmp_path / "second")
    assert after.model_id != before.model_id
    assert embedding_key(after, "a text") != embedding_key(before, "a text")

    counting = CountingEmbedder(after)
    _index(index, counting, _document())
    assert len(counting.texts) == total  # every chunk embedded by the new weights
