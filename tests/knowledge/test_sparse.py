"""Sparse lexical vectors find exact identifiers, codes and numbers."""

from __future__ import annotations

from knowledge.fusion import DEFAULT_FUSION, PROSE_FUSION
from knowledge.retrieval import fusion_for
from knowledge.sparse import (
    SparseVector,
    document_vector,
    looks_like_code,
    query_vector,
    term_id,
    terms,
)


def test_identifiers_are_kept_whole_and_split_into_parts() -> None:
    found = terms("Refund INV-2024-0042 via api_v2.endpoint for the customer")
    assert "inv-2024-0042" in found and "inv" in found and "0042" in found
    assert "api_v2.endpoint" in found and "endpoint" in found
    assert "the" not in found and "for" not in found


def test_term_ids_are_stable_32_bit_numbers() -> None:
    assert term_id("inv-2024-0042") == term_id("inv-2024-0042")
    assert 0 <= term_id("anything") < 2**32
    assert term_id("a1") != term_id("a2")


def test_repeated_terms_saturate_and_longer_chunks_weigh_each_term_less() -> None:
    once = _weights(document_vector("pump"))
    many = _weights(document_vector("pump " * 20))
    key = term_id("pump")
    assert once[key] < many[key] < 2.2  # k1 + 1
    short = _weights(document_vector("pump valve"))
    long = _weights(document_vector("pump " + "filler words here " * 60))
    assert long[key] < short[key]


def test_a_query_vector_weighs_each_distinct_term_once() -> None:
    vector = query_vector("part KX-22 part KX-22")
    assert sorted(vector.indices) == vector.indices
    assert set(vector.values) == {1.0}
    assert len(vector.indices) == len(set(terms("part KX-22")))


def _weights(vector: SparseVector) -> dict[int, float]:
    return dict(zip(vector.indices, vector.values, strict=True))


def test_the_identifier_vector_keeps_only_codes_and_numbers() -> None:
    from knowledge.sparse import identifier_vector

    vector = identifier_vector("Which warehouse stocks part KX-4821-B in 2024?")
    expected = {term_id(term) for term in ("kx-4821-b", "4821", "2024")}
    assert set(vector.indices) == expected
    assert identifier_vector("no codes here").indices == []


def test_prose_questions_lean_on_meaning_and_code_queries_keep_the_lists_level() -> None:
    for prose in ("How do I copy a folder?", "a hard-to-guess token", "non-ASCII in 70 columns"):
        assert not looks_like_code(prose)
        assert fusion_for(prose) == PROSE_FUSION
    for code in ("KX-2291-C", "json.dumps sort_keys", "__init_subclass__", "ValueError", "f()"):
        assert looks_like_code(code)
        assert fusion_for(code) == DEFAULT_FUSION
    assert PROSE_FUSION.dense_weight > DEFAULT_FUSION.dense_weight == 1.0
