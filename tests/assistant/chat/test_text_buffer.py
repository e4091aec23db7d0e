"""TextBuffer: an answer's text grown by appends reads exactly as the same text built as a str."""

import random

import pytest

from assistant.chat.text_buffer import GROUP, TextBuffer


def test_empty_buffer_reads_as_empty_text() -> None:
    buffer = TextBuffer()
    buffer.append("")
    assert (len(buffer), bool(buffer), buffer.value(), str(buffer)) == (0, False, "", "")
    assert (buffer.substring(0), buffer.substring(3), buffer.substring(0, 5), buffer[2:]) == (
        "",
        "",
        "",
        "",
    )


def test_reads_match_a_str_across_joins_and_whole_reads() -> None:
    """Lengths, tails and spans, as pieces are joined (every GROUP appends, and by `value()`)."""
    pieces = ["héllo", "🙂", "e\u0301", "", "日本語", " ", "x" * 7, "\n"]
    rng = random.Random(20)
    buffer, text = TextBuffer("saved: "), "saved: "
    for n in range(3 * GROUP + 5):
        piece = rng.choice(pieces)
        buffer.append(piece)
        text += piece
        assert len(buffer) == len(text)
        start = rng.randrange(len(text) + 2)
        assert buffer.substring(start) == text[start:]  # a follower's tail
        end = rng.randrange(len(text) + 2)
        assert buffer.substring(start, end) == text[start:end]
        assert buffer[start:end] == text[start:end]
        if n % 97 == 0:
            assert buffer.value() == text  # a checkpoint: joined whole, then appended to again
    assert buffer.value() == text and buffer == TextBuffer(text)
    assert buffer.substring(-3) == text[-3:] and buffer[:] == text


def test_a_step_or_an_index_is_refused() -> None:
    buffer = TextBuffer("abc")
    with pytest.raises(TypeError):
        buffer[::2]
    with pytest.raises(TypeError):
        buffer[1]  # type: ignore[index]
