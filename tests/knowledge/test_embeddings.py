"""The embedding model: the ONNX backend matches the torch baseline; errors name the setting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.embeddings import (
    BUNDLED_MODEL_ID,
    Embedder,
    HashEmbedder,
    bundled_model_path,
    embed_documents_async,
    embed_query_async,
    load_embedder,
)
from knowledge.errors import EmbeddingModelUnavailable
from knowledge.model_files import model_digest
from tests.knowledge.conftest import MODEL_CACHE

TEXTS = [
    "Invoices are due within thirty days of receipt.",
    "The pump housing uses stainless steel hex bolts of twelve millimetres.",
    "Employees may work from home up to three days a week.",
    "Report a lost laptop to the security team within one hour.",
]


def test_the_fast_backend_embeds_like_the_torch_baseline(
    embedder: Embedder, torch_embedder: Embedder
) -> None:
    fast = np.array(embedder.embed_documents(TEXTS))
    base = np.array(torch_embedder.embed_documents(TEXTS))
    assert fast.shape == base.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-4)
    assert (fast * base).sum(axis=1).min() > 0.97
    digest = model_digest(bundled_model_path(), MODEL_CACHE)
    assert len(digest) == 16
    assert embedder.model_id == f"{BUNDLED_MODEL_ID}@onnx-int8#{digest}"
    assert torch_embedder.model_id == f"{BUNDLED_MODEL_ID}#{digest}"


def test_a_query_is_closest_to_the_passage_that_answers_it(embedder: Embedder) -> None:
    passages = np.array(embedder.embed_documents(TEXTS))
    query = np.array(embedder.embed_query("When do I have to pay the bill?"))
    assert int(np.argmax(passages @ query)) == 0
    assert np.allclose(embedder.embed_queries(["a", "b"])[1], embedder.embed_query("b"), atol=1e-5)


def test_the_embedder_is_loaded_once_per_process(embedder: Embedder, tmp_path: Path) -> None:
    assert load_embedder(cache_dir=MODEL_CACHE) is embedder


def test_an_unknown_model_name_says_which_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelUnavailable) as caught:
        load_embedder("no-such-org/no-such-model", backend="torch", cache_dir=tmp_path)
    assert "no-such-org/no-such-model" in caught.value.message
    assert "SWITCHBOARD_EMBEDDING_MODEL" in caught.value.message


def test_the_hash_embedder_is_deterministic_and_enters_through_the_same_seam() -> None:
    first, second = HashEmbedder(64), HashEmbedder(64)
    assert isinstance(first, Embedder)
    assert first.embed_query("pump bolts") == second.embed_query("pump bolts")
    assert first.embed_query("pump bolts") != first.embed_query("office chairs")
    assert first.dimension == 64 and first.model_id == "hash-64"


@pytest.mark.anyio
async def test_embedding_runs_off_the_event_loop(embedder: Embedder) -> None:
    vectors = await embed_documents_async(embedder, TEXTS[:2])
    query = await embed_query_async(embedder, TEXTS[0])
    assert np.allclose(vectors[0], query, atol=1e-5)
