"""A text that grows by appends, in time linear in its length.

`text += piece` on an attribute copies the whole text each time (CPython's in-place
concatenation only helps locals), so an answer streamed in n chunks would cost O(n²). A
`TextBuffer` keeps the pieces and their offsets instead: appending is O(len(piece)), reading
from an offset costs what it reads (plus a bisect), and the whole value is joined once per
change (checkpoints and saves read it now and then, not after every chunk).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

__all__ = ["TextBuffer"]

GROUP = 256  # the newest pieces are joined into one every GROUP appends (few, mid-sized pieces)


class TextBuffer:
    """Appendable text: `append`, `len`, `substring(start, end)` and the whole `value()`."""

    __slots__ = ("_length", "_loose", "_parts", "_starts")

    def __init__(self, text: str = "") -> None:
        self._parts: list[str] = [text] if text else []
        self._starts: list[int] = [0] if text else []  # where each part begins
        self._length = len(text)
        self._loose = 0  # the newest parts not yet joined into one

    def append(self, text: str) -> None:
        """Add `text` at the end."""
        if not text:
            return
        if self._loose >= GROUP:
            self._join_last(self._loose)
        self._starts.append(self._length)
        self._parts.append(text)
        self._length += len(text)
        self._loose += 1

    def __len__(self) -> int:
        return self._length

    def __bool__(self) -> bool:
        return self._length > 0

    def substring(self, start: int, end: int | None = None) -> str:
        """`value()[start:end]`, without building the whole value."""
        if end is None or end > self._length:
            end = self._length
        if start < 0 or end < 0:
            start, end, _ = slice(start, end).indices(self._length)
        if start >= end:
            return ""
        parts, starts = self._parts, self._starts
        if start >= starts[-1]:  # within the newest part: a follower's tail, mostly
            return parts[-1][start - starts[-1] : end - starts[-1]]
        first = bisect_right(starts, start) - 1
        last = bisect_left(starts, end) - 1  # the last part that begins before `end`
        if first == last:
            return parts[first][start - starts[first] : end - starts[first]]
        head = parts[first][start - starts[first] :]
        tail = parts[last][: end - starts[last]]
        return "".join([head, *parts[first + 1 : last], tail])

    def __getitem__(self, key: slice) -> str:
        """`buffer[start:end]`, as for a str (no step, no single index)."""
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("a TextBuffer is read by slices without a step")
        start = 0 if key.start is None else key.start
        return self.substring(start, key.stop)

    def value(self) -> str:
        """The whole text (joined once, then kept as one part until the next append)."""
        if len(self._parts) > 1:
            self._join_last(len(self._parts))
        return self._parts[0] if self._parts else ""

    def _join_last(self, count: int) -> None:
        joined = "".join(self._parts[-count:])
        begins = self._starts[-count]
        del self._parts[-count:], self._starts[-count:]
        self._parts.append(joined)
        self._starts.append(begins)
        self._loose = 0

    def __str__(self) -> str:
        return self.value()

    def __repr__(self) -> str:
        return f"TextBuffer({self.value()!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TextBuffer):
            return self.value() == other.value()
        return NotImplemented
