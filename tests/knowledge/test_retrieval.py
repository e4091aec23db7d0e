"""Retrieval quality on a labelled set, and passages with citations."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.embeddings import Embedder, HashEmbedder
from knowledge.index import TenantScope
from knowledge.index_edge import EdgeIndex
from knowledge.retrieval import retrieve, retrieve_async, snippet
from tests.knowledge import labelled, samples


@pytest.fixture(scope="module")
def quality_index(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> tuple[EdgeIndex, labelled.LabelledSet]:
    index = EdgeIndex(tmp_path_factory.mktemp("quality") / "chunks")
    data = labelled.build()
    labelled.index_set(index, embedder, data, "reader")
    return index, data


def test_hybrid_beats_dense_only_on_exact_identifiers_without_losing_paraphrases(
    quality_index: tuple[EdgeIndex, labelled.LabelledSet], embedder: Embedder
) -> None:
    index, data = quality_index
    hybrid = labelled.evaluate(index, embedder, data, "reader", "hybrid")
    dense = labelled.evaluate(index, embedder, data, "reader", "dense")
    for name, scores in (("hybrid", hybrid), ("dense", dense)):
        for kind, score in scores.items():
            figures = f"recall@5={score.recall_at_5:.2f} MRR={score.mrr:.2f} n={score.questions}"
            print(f"{name:6} {kind:10} {figures}")
    assert hybrid["identifier"].recall_at_5 > dense["identifier"].recall_at_5
    assert hybrid["identifier"].mrr > dense["identifier"].mrr
    assert hybrid["identifier"].recall_at_5 >= 0.9
    assert hybrid["paraphrase"].recall_at_5 >= 0.75


def test_retrieved_passages_carry_their_citation(
    quality_index: tuple[EdgeIndex, labelled.LabelledSet], embedder: Embedder
) -> None:
    index, _ = quality_index
    passages = retrieve(
        index=index, embedder=embedder, scope=TenantScope("reader"),
        query="How often must passwords be rotated?", limit=3,
    )  # fmt: skip
    best = passages[0]
    assert best.citation.file_id == "handbook.docx"
    assert best.citation.section == ("Passwords",)
    assert "ninety days" in best.text and "ninety days" in best.citation.snippet
    assert best.citation.end - best.citation.start == len(best.text)
    assert (
        retrieve(index=index, embedder=embedder, scope=TenantScope("stranger"), query="passwords")
        == []
    )


@pytest.mark.anyio
async def test_a_reranker_reorders_the_candidates(
    quality_index: tuple[EdgeIndex, labelled.LabelledSet], embedder: Embedder
) -> None:
    class PrefersLaptops:
        def score(self, query: str, passages: list[str]) -> list[float]:
            return [1.0 if "laptop" in passage else 0.0 for passage in passages]

    index, _ = quality_index
    passages = await retrieve_async(
        index=index, embedder=embedder, scope=TenantScope("reader"),
        query="How often must passwords be rotated?", limit=2, reranker=PrefersLaptops(),
    )  # fmt: skip
    assert passages[0].citation.section == ("Laptop return",)
    assert passages[0].score == 1.0


def test_a_snippet_is_cut_at_a_word_boundary() -> None:
    text = "word " * 100
    cut = snippet(text, 42)
    assert cut.endswith("…") and len(cut) <= 43 and "wor…" not in cut


def test_the_hash_embedder_can_drive_retrieval_for_other_packages(tmp_path: Path) -> None:
    index = EdgeIndex(tmp_path / "chunks")
    data = labelled.LabelledSet(
        {"notes.md": samples.markdown_file([("Pumps", ["The pump needs oil."])])}, []
    )
    labelled.index_set(index, HashEmbedder(), data, "ann")
    passages = retrieve(
        index=index, embedder=HashEmbedder(), scope=TenantScope("ann"), query="pump oil"
    )
    assert passages and passages[0].citation.file_name == "notes.md"
    index.close()
