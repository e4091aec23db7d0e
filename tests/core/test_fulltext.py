"""Search text becomes quoted words, never engine syntax; snippets are escaped around the match."""

from __future__ import annotations

import pytest

from core.fulltext import InvalidSearch, Terms, parse, snippet


def test_search_text_becomes_quoted_words_with_the_last_one_a_prefix() -> None:
    terms = parse(' "Budget" NEAR(q3 -draft) title:rep* ')
    assert terms == Terms(("budget", "near", "q3", "draft", "title", "rep"))
    assert terms.fts5() == '"budget" "near" "q3" "draft" "title" "rep"*'
    assert terms.tsquery() == "'budget' & 'near' & 'q3' & 'draft' & 'title' & 'rep':*"
    assert parse('"*:-^') is None  # no words: nothing matches, nothing fails


@pytest.mark.parametrize("text", ["", "   ", "x" * 201, None])
def test_blank_or_overlong_search_text_is_refused(text: str | None) -> None:
    with pytest.raises(InvalidSearch):
        parse(text)


def test_snippet_escapes_the_text_and_marks_the_words_around_the_first_match() -> None:
    terms = parse("quarterly rep")
    assert terms is not None
    text = "x " * 100 + "<b>Quarterly</b> reports & reporting, not a rep- or quarter."
    found = snippet(text, terms)
    assert found.html.startswith("…")
    assert found.html.endswith(
        "&lt;b&gt;<mark>Quarterly</mark>&lt;/b&gt; <mark>reports</mark> &amp; "
        "<mark>reporting</mark>, not a <mark>rep</mark>- or quarter."
    )
    assert found.text.endswith("<b>Quarterly</b> reports & reporting, not a rep- or quarter.")
