"""Hybrid fusion: the dense, lexical and exact-identifier candidate lists merged into one ranking.

Both index backends fetch each list on its own and fuse here, so they rank alike and every
tie is broken by one fixed rule: fused score, then the best rank the chunk reached in any single
list, then the earlier list (dense first), then the chunk's id. Identical searches over the same
chunks therefore always return the same order, which rank fusion alone does not promise (a
chunk ranked 3rd by meaning and one ranked 3rd by keywords score exactly alike).

Weighted reciprocal rank fusion: a chunk at 1-based rank `r` of list `i` earns
`weights[i] / (k + r)`. How deep each list is read, `k` and the weights were tuned on the
labelled documentation set of `bench/retrieval.py` (128 questions on Python's docs, two thirds
tuned on and one third held out, see bench/README.md): reading 150 candidates per list instead
of 40 lets a passage that only one list ranks well (a paraphrase sharing few words with its page)
survive the fusion; `k` = 20 (instead of the customary 60) lets a list's first few hits count
more than its long tail. A query asked in prose (`knowledge.sparse.looks_like_code` finds no
name, code or call in it) weighs the dense list ×1.5 (`PROSE_FUSION`): meaning matters more
than shared words there. A query naming code keeps the lists level (`DEFAULT_FUSION`): weighting
dense ×2 for every query let a bare exact-code search lose its match to the nearest vector.

Evidence of the file: each list also ranks files, by their first chunk in it, and the file's
fused score (the same weighted RRF over those file ranks, × `file_weight`) is added to its best
chunk alone. A page that the dense list finds through one passage and the keyword list through
another (neither high enough on its own) then comes up through its best passage, while its other
chunks keep their own scores, so one file does not fill the results. On the documentation set
this raised recall@5 from 0.94 to 0.98 and MRR@10 from 0.85 to 0.86, on the held-out third and on
30 fresh questions too (bench/README.md, issue 20 third pass); `file_weight` 0 turns it off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol, TypeVar

RRF_K = 20
PROSE_DENSE_WEIGHT = 1.5
FILE_WEIGHT = 1.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class FusionOptions:
    """How deep each candidate list is read and what each weighs (dense, lexical, identifiers)."""

    depth: int = 150
    depth_factor: int = 4
    k: int = RRF_K
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    identifier_weight: float = 1.0
    file_weight: float = FILE_WEIGHT

    def depth_for(self, limit: int) -> int:
        """Candidates fetched per list for a search returning `limit` hits."""
        return max(limit * self.depth_factor, self.depth)


DEFAULT_FUSION = FusionOptions()
PROSE_FUSION = FusionOptions(dense_weight=PROSE_DENSE_WEIGHT)


class Ranked(Protocol):
    """A candidate of one list: a chunk's id, its score in that list and its file."""

    @property
    def point_id(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def file_id(self) -> str: ...


R = TypeVar("R", bound=Ranked)


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A list's candidate without its payload (read only for the chunks fusion keeps)."""

    point_id: str
    score: float
    file_id: str = ""


MARGIN = 8
_SCORE_DIGITS = 6


def fetched(wanted: int) -> int:
    """How many hits to ask a list for when `wanted` are kept (see `settled`)."""
    return wanted + MARGIN


def _level(score: float) -> float:
    """A score rounded, so equal texts tie even when the engine's sums differ in the last bits."""
    return round(score, _SCORE_DIGITS)


def settled(hits: Sequence[R], asked: int, wanted: int) -> list[R]:
    """A list's first `wanted` hits in a fixed order: score descending, then chunk id.

    When the index returned all `asked` hits, those scoring like the last one may be an
    arbitrary few of more such chunks, so they are left out: the kept set is then the same
    on every search (with exact scores; an approximate HNSW search is as stable as its graph).
    """
    ranked = sorted(hits, key=lambda item: (-_level(item.score), item.point_id))
    if len(ranked) >= asked:
        boundary = _level(ranked[-1].score)
        ranked = [item for item in ranked if _level(item.score) > boundary] or ranked
    return ranked[:wanted]


def fuse(
    lists: Sequence[Sequence[R]],
    weights: Sequence[float],
    *,
    limit: int,
    k: int = RRF_K,
    file_weight: float = 0.0,
) -> list[tuple[R, float]]:
    """The best `limit` candidates of weighted reciprocal rank fusion with their fused scores,
    ties broken; with `file_weight`, each file's best chunk also earns its file's fused score
    (the same fusion over the ranks of files in each list, by their first chunk).

    Each list must already be in its fixed order (`settled`).
    """
    scores: dict[str, float] = {}
    best: dict[str, tuple[int, int]] = {}  # (best rank, list giving it)
    found: dict[str, R] = {}
    files: dict[str, float] = {}
    for position, (candidates, weight) in enumerate(zip(lists, weights, strict=True)):
        seen: set[str] = set()
        for rank, item in enumerate(candidates, start=1):
            key = item.point_id
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
            best[key] = min(best.get(key, (rank, position)), (rank, position))
            found.setdefault(key, item)
            if item.file_id not in seen:
                seen.add(item.file_id)
                files[item.file_id] = files.get(item.file_id, 0.0) + weight / (k + len(seen))
    order = sorted(scores, key=lambda key: (-scores[key], best[key], key))
    if file_weight:
        leaders: dict[str, str] = {}
        for key in order:
            leaders.setdefault(found[key].file_id, key)
        for file_id, key in leaders.items():
            scores[key] += file_weight * files[file_id]
        order = sorted(scores, key=lambda key: (-scores[key], best[key], key))
    return [(found[key], scores[key]) for key in order[:limit]]
