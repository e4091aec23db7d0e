"""Sparse lexical vectors (BM25 term weights) so exact names, codes and numbers are found.

Each chunk gets BM25's term-frequency part, `tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len))`; a
query gets weight 1 per distinct term. The index applies the IDF part itself (Qdrant's IDF
modifier on the sparse vector), so the collection's statistics never have to be kept here.

Terms are lower-cased words and numbers; an identifier such as `INV-2024-0042` or `api_v2.endpoint`
is kept whole as well as split into its parts, so both the exact code and its pieces match.
Term ids are a stable 32-bit hash of the term, identical in every process.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import re

_COMPOUND = re.compile(r"[^\W_]+(?:[-_./:#@][^\W_]+)+")
_WORD = re.compile(r"[^\W_]+")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "he",
        "her",
        "his",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "do",
        "does",
        "did",
        "can",
        "could",
        "how",
        "about",
        "all",
        "any",
        "been",
        "being",
        "should",
    ]
)
_MAX_TERM_CHARS = 64
_HAS_DIGIT = re.compile(r"\d")
# What marks a query as naming code rather than asking in prose: a name joined by `_ . / : # @`
# (`json.dumps`, `sort_keys`, `Europe/Paris`, `0.1`), a hyphenated code holding a digit
# (`INV-2024-0042`, `SHA-256`; `hard-to-guess` is prose), camelCase or CamelCase (`ValueError`),
# a call `f()`. A bare number or word with digits alone (`70`, `base64`) is not enough.
_CODE = re.compile(
    r"[^\W_]+(?:[_./:#@][^\W_]+)+|\w*\d\w*(?:-\w+)+|\w+-\w*\d\w*"
    r"|\b[a-z]+[A-Z]\w*|\b[A-Z][a-z]+[A-Z]\w*|\w\(\)|\b\w*_\w*\b"
)


@dataclasses.dataclass(frozen=True)
class SparseVector:
    """Term ids and their weights, ids ascending."""

    indices: list[int]
    values: list[float]


@dataclasses.dataclass(frozen=True)
class Bm25Options:
    """BM25's saturation (`k1`), length normalisation (`b`) and expected chunk length in terms."""

    k1: float = 1.2
    b: float = 0.75
    average_length: float = 120.0


def terms(text: str) -> list[str]:
    """The terms of a text, in order: identifiers whole and in parts, words, numbers."""
    lowered = text.lower()
    found: list[str] = []
    for match in _COMPOUND.finditer(lowered):
        found.append(match.group())
    for match in _WORD.finditer(lowered):
        word = match.group()
        if word not in _STOPWORDS:
            found.append(word)
    return [term[:_MAX_TERM_CHARS] for term in found]


@functools.lru_cache(maxsize=1 << 16)
def term_id(term: str) -> int:
    """A term's stable id: 32 bits of its BLAKE2 hash."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big")


def document_vector(text: str, options: Bm25Options | None = None) -> SparseVector:
    """The BM25 term-frequency weights of a chunk."""
    options = options or Bm25Options()
    counts = collections.Counter(terms(text))
    length = sum(counts.values())
    norm = options.k1 * (1 - options.b + options.b * length / options.average_length)
    weights: dict[int, float] = {}
    for term, count in counts.items():
        identifier = term_id(term)
        weight = count * (options.k1 + 1) / (count + norm)
        weights[identifier] = max(weights.get(identifier, 0.0), weight)
    return _vector(weights)


def query_vector(text: str) -> SparseVector:
    """A query's terms, weight 1 each (the index multiplies in the IDF)."""
    return _vector({term_id(term): 1.0 for term in terms(text)})


def identifier_vector(text: str) -> SparseVector:
    """The query's exact identifiers, codes and numbers alone (terms holding a digit).

    Searched as a prefetch of its own, so that a chunk holding the exact code ranks high in
    two of the fused lists instead of one, and rank fusion does not drown the exact match.
    """
    return _vector({term_id(term): 1.0 for term in terms(text) if _HAS_DIGIT.search(term)})


def looks_like_code(text: str) -> bool:
    """Whether a query names code, identifiers or numbers (else it is prose, asked in words)."""
    return _CODE.search(text) is not None


def _vector(weights: dict[int, float]) -> SparseVector:
    indices = sorted(weights)
    return SparseVector(indices, [weights[index] for index in indices])
