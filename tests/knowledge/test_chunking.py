"""Chunks follow the document's structure, fit the token budget and locate their text exactly."""

from __future__ import annotations

import itertools

from core import tokens
from knowledge.chunking import ChunkingOptions, chunk_document
from knowledge.documents import ParseLimits
from knowledge.parsing import parse_document
from tests.knowledge import samples

LIMITS = ParseLimits()


def test_small_sections_become_one_chunk_each_with_their_heading_path() -> None:
    sections = [("Alpha", ["First fact.", "Second fact."]), ("Beta", ["Third fact."])]
    document = parse_document(samples.markdown_file(sections), LIMITS)
    chunks = chunk_document(document)
    assert [chunk.section for chunk in chunks] == [
        ("Handbook",),
        ("Handbook", "Alpha"),
        ("Handbook", "Beta"),
    ]
    assert chunks[1].text == "Alpha\n\nFirst fact.\n\nSecond fact."
    assert chunks[1].embedding_text.startswith("Handbook > Alpha\n")


def test_long_sections_are_cut_within_budget_with_overlap_and_exact_offsets() -> None:
    sentences = [f"Sentence number {n} talks about topic {n * 7}." for n in range(120)]
    document = parse_document(samples.markdown_file([("Long", [" ".join(sentences)])]), LIMITS)
    options = ChunkingOptions(max_tokens=60, overlap_tokens=15)
    chunks = chunk_document(document, options)
    assert len(chunks) > 10
    for chunk in chunks:
        assert chunk.tokens <= options.max_tokens
        assert chunk.tokens == tokens.count_text(chunk.text)
        assert document.text[chunk.start : chunk.end] == chunk.text
    body = [chunk for chunk in chunks if chunk.section == ("Handbook", "Long")]
    overlaps = [b.start < a.end for a, b in itertools.pairwise(body)]
    assert all(overlaps)
    assert body[-1].text.endswith("topic 833.")


def test_chunks_never_cross_pages() -> None:
    pages = [(f"Page {n}", [f"Content of page {n}."]) for n in range(1, 4)]
    chunks = chunk_document(parse_document(samples.pdf_file(pages), LIMITS))
    assert [chunk.page for chunk in chunks] == [1, 2, 3]
    assert all(f"page {chunk.page}" in chunk.text for chunk in chunks)


def test_a_table_longer_than_a_chunk_is_cut_between_rows() -> None:
    rows: list[list[object]] = [["Code", "Description"]]
    rows += [[f"C-{n}", f"widget number {n}"] for n in range(19)]
    document = parse_document(samples.xlsx_file({"Codes": rows}), LIMITS)
    chunks = chunk_document(document, ChunkingOptions(max_tokens=40, overlap_tokens=0))
    table_chunks = [chunk for chunk in chunks if "C-" in chunk.text]
    assert len(table_chunks) > 2
    assert all(not chunk.text.startswith("|") and chunk.tokens <= 40 for chunk in table_chunks)


def test_a_word_longer_than_a_chunk_is_cut_at_characters() -> None:
    blob = "A" * 5000
    document = parse_document(samples.text_file([f"Start {blob} end."]), LIMITS)
    chunks = chunk_document(document, ChunkingOptions(max_tokens=50, overlap_tokens=0))
    assert all(chunk.tokens <= 50 for chunk in chunks)
    assert "".join(chunk.text for chunk in chunks).replace(" ", "") == f"Start{blob}end."


def _guide(*blocks: str) -> str:
    return "# Guide\n\n## Encoding\n\n" + "\n\n".join(blocks) + "\n"


def test_keyword_search_reads_code_blocks_and_the_embedding_only_the_prose() -> None:
    code = "```\n>>> json.dumps([1, 2], separators=(',', ':'))\n'[1,2]'\n```"
    text = _guide("Compact encoding drops spaces:", code, "Pretty printing indents nested values.")
    chunks = chunk_document(parse_document(text.encode(), LIMITS))
    chunk = next(chunk for chunk in chunks if "Compact" in chunk.text)
    assert "separators=(',', ':')" in chunk.text
    assert chunk.search_text == "Guide > Encoding\n" + chunk.text
    assert chunk.embedding_text == (
        "Guide > Encoding\nEncoding\n\nCompact encoding drops spaces:\n"
        "Pretty printing indents nested values."
    )


def test_a_chunk_of_code_alone_embeds_the_first_line_of_each_block() -> None:
    lines = [f">>> value_{n} = compute({n}, scale={n * 3})" for n in range(40)]
    text = _guide("Setup:", "```\n" + "\n".join(lines) + "\n```", "```\nprint(done)\n```")
    document = parse_document(text.encode(), LIMITS)
    chunks = chunk_document(document, ChunkingOptions(max_tokens=60, overlap_tokens=0))
    code_only = [chunk for chunk in chunks if chunk.text.startswith(">>>")]
    assert len(code_only) > 2  # the long block is cut across chunks, each a span of code
    for chunk in code_only:
        assert len(chunk.code) == chunk.text.count("print(done)") + 1
        first = chunk.text.split("\n", 1)[0]
        assert chunk.embedding_text.split("\n") == ["Guide > Encoding", first] + (
            ["print(done)"] if "print(done)" in chunk.text else []
        )
        for start, end in chunk.code:
            assert chunk.text[start:end].strip() in document.text
