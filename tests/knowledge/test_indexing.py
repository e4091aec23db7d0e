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
from knowledge.indexing import embedding_key, index_document, new_version
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
    texts = [hit.text for hit in index.file_chunks("f-1", version="")]
    assert len(texts) == total and not any("New text" in text for text in texts)


def test_every_progress_report_comes_before_the_index_is_written(
    index: VectorIndex, embedder: Embedder
) -> None:
    """So a stop raised from it never leaves a file half replaced, and the worker's own check
    after the writes (was the file deleted meanwhile?) is the one that sees the end."""
    counting = _ready(index, embedder)
    _index(index, counting, _document())
    before = [hit.text for hit in index.file_chunks("f-1", version="")]
    seen: list[tuple[int, int, list[str]]] = []

    def report(done: int, total: int) -> None:
        seen.append((done, total, [hit.text for hit in index.file_chunks("f-1", version="")]))

    index_document(
        index=index, embedder=counting, document=_document(EDITED), file_id="f-1",
        file_name="f-1.md", owner=ANN, options=OPTIONS, progress=report,
    )  # fmt: skip
    assert seen and seen[-1][0] == seen[-1][1]
    assert all(texts == before for _, _, texts in seen)
    assert [hit.text for hit in index.file_chunks("f-1", version="")] != before


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
    assert [hit.chunk_index for hit in index.file_chunks("f-1", version="")] == list(range(kept))
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
            stored = [hit.text for hit in index.file_chunks(file_id, version="")]
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


class LiveVersions(dict[str, str | None]):
    """The live version of each file as the library's rows record it (`LibraryFile.live_version`;
    tests/knowledge/test_worker_versions.py runs the worker's own, in the database)."""

    def lookup(self, file_ids: Sequence[str]) -> dict[str, str | None]:
        return {file_id: self.get(file_id) for file_id in file_ids}


def _reindex(
    index: VectorIndex,
    embedder: Embedder,
    document: ParsedDocument,
    live: LiveVersions,
    file_id: str = "f-1",
    *,
    flip: bool = True,
) -> int:
    """Index as the worker does: a new version beside the live one, made live once whole (unless
    not `flip`), then the version it replaced deleted."""
    version, replaced = new_version(), live.get(file_id)
    chunks = index_document(
        index=index, embedder=embedder, document=document, file_id=file_id,
        file_name=f"{file_id}.md", owner=ANN, options=OPTIONS, version=version,
        live=live.get(file_id),
    )  # fmt: skip
    if flip:
        live[file_id] = version
        if replaced is not None:
            index.delete_version(file_id, replaced)
    return len(chunks)


def _break_once(monkeypatch: pytest.MonkeyPatch, index: VectorIndex, step: str) -> None:
    """Make the real index fail once at one step of the next indexing (the vector-store seam):
    deleting what earlier runs left before writing, half-way through writing the new chunks, or
    deleting the replaced version after the new one was made live."""
    upsert, settle, delete_version = index.upsert, index.settle_file, index.delete_version
    broken: list[str] = []

    def fail() -> None:
        broken.append(step)
        raise VectorStoreUnavailable(f"broken on purpose: {step}")

    def upsert_then_fail(chunks: Sequence[IndexedChunk]) -> None:
        upsert(chunks[: len(chunks) // 2] if step == "mid-upsert" and not broken else chunks)
        if step == "mid-upsert" and not broken:
            fail()

    def settle_or_fail(file_id: str, keep: str | None) -> None:
        if step == "before-writes" and not broken:
            fail()
        settle(file_id, keep)

    def delete_or_fail(file_id: str, version: str) -> None:
        if step == "after-flip" and not broken:
            fail()
        delete_version(file_id, version)

    monkeypatch.setattr(index, "upsert", upsert_then_fail)
    monkeypatch.setattr(index, "settle_file", settle_or_fail)
    monkeypatch.setattr(index, "delete_version", delete_or_fail)


def _searched_texts(
    index: VectorIndex, embedder: Embedder, live: LiveVersions, limit: int = 5
) -> set[str]:
    scope = TenantScope("ann")
    return {
        passage.text
        for query in QUERIES
        for passage in retrieve(
            index=index,
            embedder=embedder,
            scope=scope,
            query=query,
            limit=limit,
            live=live.lookup,
        )
    }


@pytest.mark.parametrize("step", ["before-writes", "mid-upsert", "after-flip"])
def test_a_reindex_failing_at_any_step_leaves_one_whole_version_searchable(
    index: VectorIndex,
    embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    step: str,
) -> None:
    counting, live = _ready(index, embedder), LiveVersions()
    _reindex(index, counting, _document(), live)
    old = [chunk.text for chunk in chunk_document(_document(), OPTIONS)]
    new = [chunk.text for chunk in chunk_document(REVISED, OPTIONS)]
    assert len(new) < len(old) and not set(old) & set(new)

    with monkeypatch.context() as patched:
        _break_once(patched, index, step)
        with pytest.raises(VectorStoreUnavailable, match=step):
            _reindex(index, counting, REVISED, live)
    if isinstance(index, EdgeIndex):  # as after a crash there: what the folder holds
        index.close()
        index = EdgeIndex(index._folder)
        request.addfinalizer(index.close)
    whole = new if step == "after-flip" else old
    assert [hit.text for hit in index.file_chunks("f-1", version=live["f-1"])] == whole
    found = _searched_texts(index, embedder, live)
    assert found and found <= set(whole)

    counting.texts.clear()
    _reindex(index, counting, REVISED, live)  # the next run cleans up what the failed one left
    assert [hit.text for hit in index.file_chunks("f-1", version=live["f-1"])] == new
    assert index.count(file_id="f-1") == len(new)
    assert _searched_texts(index, embedder, live) <= set(new)
    # What the failed run stored is reused: after a mid-upsert failure, only the half not written
    # is embedded again; a run that failed before writing stored nothing.
    embedded = [chunk.embedding_text for chunk in chunk_document(REVISED, OPTIONS)]
    expected = {"before-writes": embedded, "mid-upsert": embedded[len(new) // 2 :]}
    assert counting.texts == expected.get(step, [])


def _many_sections(count: int) -> ParsedDocument:
    sections: list[Section] = [
        (f"Part {n}", [f"Part {n} of the manual covers gauge model G-{n} and its spare seals."])
        for n in range(count)
    ]
    return parse_markdown(markdown_file(sections), ParseLimits())


def test_a_first_indexing_failing_at_its_second_batch_leaves_nothing_searchable(
    index: VectorIndex, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting, live = _ready(index, embedder), LiveVersions()
    document = _many_sections(80)
    assert len(chunk_document(document, OPTIONS)) > 64  # two batches
    upsert, batches = index.upsert, []

    def second_fails(chunks: Sequence[IndexedChunk]) -> None:
        batches.append(len(chunks))
        if len(batches) == 2:
            raise VectorStoreUnavailable("broken on purpose: second batch")
        upsert(chunks)

    with monkeypatch.context() as patched:
        patched.setattr(index, "upsert", second_fails)
        with pytest.raises(VectorStoreUnavailable):
            _reindex(index, counting, document, live)
    assert index.count(file_id="f-1") == 64  # the first batch is stored, and never found
    assert "f-1" not in live and index.file_chunks("f-1", version=live.get("f-1")) == []
    assert _searched_texts(index, embedder, live) == set()
    scope = TenantScope("ann")
    hits = retrieve(
        index=index, embedder=embedder, scope=scope, query="gauge model G-3", live=live.lookup
    )
    assert hits == []

    total = _reindex(index, counting, document, live)
    assert index.count(file_id="f-1") == total  # what the failed run left is gone
    assert _searched_texts(index, embedder, live)


def test_a_search_sees_the_old_version_until_the_new_is_made_live_then_only_the_new(
    index: VectorIndex, embedder: Embedder
) -> None:
    """Both versions stored at once: hits of the version not live are left out and the search
    asked again, so each query still gets its five passages, all of the live version."""
    counting, live = _ready(index, embedder), LiveVersions()
    _reindex(index, counting, _document(), live)
    old = {chunk.text for chunk in chunk_document(_document(), OPTIONS)}
    new = {chunk.text for chunk in chunk_document(REVISED, OPTIONS)}
    _reindex(index, counting, REVISED, live, flip=False)  # written whole, not yet live
    assert index.count(file_id="f-1") == len(old) + len(new)
    [written] = _versions_of(index, embedder, "f-1") - {live["f-1"]}
    scope = TenantScope("ann")
    for versions, texts in [(live.lookup, old), (LiveVersions({"f-1": written}).lookup, new)]:
        for query in QUERIES:
            found = retrieve(
                index=index, embedder=embedder, scope=scope, query=query, limit=5, live=versions
            )
            assert len(found) == 5 and {passage.text for passage in found} <= texts, query
    # Without the live versions, a search mixes both (what the check above leaves out).
    unchecked = [
        retrieve(index=index, embedder=embedder, scope=scope, query=query, limit=5)
        for query in QUERIES
    ]
    mixed = {passage.text for found in unchecked for passage in found}
    assert mixed & old and mixed & new


def _versions_of(index: VectorIndex, embedder: Embedder, file_id: str) -> set[str]:
    """The versions a file's chunks are stored under (what a search without `live` finds)."""
    hits = index.search(
        TenantScope("ann"), embedder.embed_query("pump"), document_vector("pump"),
        limit=100, mode="dense", file_ids=[file_id],
    )  # fmt: skip
    return {hit.version for hit in hits}


def test_chunks_stored_before_versions_stay_searchable_until_replaced_whole(
    index: VectorIndex, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = _ready(index, embedder)
    live = LiveVersions({"f-1": ""})  # what the migration records for a file indexed before
    chunks = chunk_document(_document(), OPTIONS)
    index.upsert(  # as indexing wrote them before versions: plain ids, no version
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
    assert [hit.text for hit in index.file_chunks("f-1", version="")] == old
    assert _searched_texts(index, embedder, live) <= set(old)
    with monkeypatch.context() as patched:
        _break_once(patched, index, "mid-upsert")
        with pytest.raises(VectorStoreUnavailable):
            _reindex(index, counting, REVISED, live)
    assert [hit.text for hit in index.file_chunks("f-1", version=live["f-1"])] == old
    assert _searched_texts(index, embedder, live) <= set(old)
    _reindex(index, counting, REVISED, live)
    new = [chunk.text for chunk in chunk_document(REVISED, OPTIONS)]
    assert [hit.text for hit in index.file_chunks("f-1", version=live["f-1"])] == new
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
