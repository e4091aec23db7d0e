"""Ids: 26 characters of Crockford's base32, the creation time's milliseconds first."""

from __future__ import annotations

import time
from collections import Counter

from core.ids import ALPHABET, new_id


def _number(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + ALPHABET.index(char)
    return value


def test_an_id_starts_with_the_milliseconds_it_was_made_at() -> None:
    before = int(time.time() * 1000)
    made = new_id()
    after = int(time.time() * 1000)
    assert len(made) == 26 and set(made) <= set(ALPHABET)
    assert before <= _number(made[:10]) <= after


def test_ids_sort_by_creation_time() -> None:
    first = new_id()
    later = new_id()
    while later[:10] == first[:10]:  # until the next millisecond
        later = new_id()
    assert later > first


def test_the_random_part_uses_every_character_evenly() -> None:
    tails = [new_id()[10:] for _ in range(4000)]
    assert len(set(tails)) == len(tails)
    counts = Counter("".join(tails))  # 64,000 characters, 2,000 expected of each
    assert set(counts) == set(ALPHABET)
    assert all(1700 < n < 2300 for n in counts.values())
