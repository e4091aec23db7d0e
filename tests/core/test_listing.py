"""The search text helper shared by every list and chat search."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, literal, select

from core.listing import contains_text


@pytest.mark.parametrize(
    ("stored", "query", "found"),
    [
        ("Summer SALE: 50% off", "50% off", True),
        ("Summer sale: 50 percent off", "50%", False),
        ("snake_case names", "E_C", True),
        ("snakeXcase names", "e_c", False),
        ("back\\slash", "k\\s", True),
        ("backslash", "k\\s", False),
    ],
)
def test_search_text_matches_wildcards_literally_and_ignores_case(
    stored: str, query: str, found: bool
) -> None:
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        assert bool(connection.scalar(select(contains_text(literal(stored), query)))) is found
