"""Tests keep one way of starting an app and one way of waiting: `make_harness` (tests/conftest.py)
and `eventually` (tests/support.py), so neither chore is written out again in each module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
HELPERS = {"tests/support.py", "tests/conftest.py", "tests/architecture/test_test_helpers.py"}
SLEEPS = {"sleep"}  # asyncio.sleep, anyio.sleep, time.sleep

# Not converted yet; this list only shrinks (an entry that no longer offends fails the test).
STARTS_LEFT: dict[str, str] = {}
LOOPS_LEFT = {
    "tests/fakes/upstream.py": "runs standalone too (python -m tests.fakes.upstream, bench)",
    # Measurements of the event loop's latency, not waits.
    "tests/assistant/chat/test_history.py": "measures how long the loop is held",
    "tests/core/test_inline_sqlite.py": "counts loop ticks while a writer waits",
    "tests/ops/test_hostile_load.py": "probes health latency while load runs",
}


def _test_modules() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for path in sorted(TESTS.rglob("*.py"))
    }


def _sleeps(node: ast.AST) -> bool:
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call):
            name = inner.func.attr if isinstance(inner.func, ast.Attribute) else None
            if isinstance(inner.func, ast.Name):
                name = inner.func.id
            if name in SLEEPS:
                return True
    return False


def _is_polling_loop(node: ast.AST) -> bool:
    """A `while` loop, or a `for _ in range(...)` loop of tries, that sleeps between them."""
    if isinstance(node, ast.While):
        return _sleeps(node)
    if isinstance(node, ast.For | ast.AsyncFor):
        tries = isinstance(node.target, ast.Name) and node.target.id == "_"
        ranged = isinstance(node.iter, ast.Call) and getattr(node.iter.func, "id", "") == "range"
        return tries and ranged and _sleeps(node)
    return False


def test_apps_are_started_only_by_make_harness() -> None:
    starting = {
        path
        for path, source in _test_modules().items()
        if "AppHarness.start(" in source and path not in HELPERS
    }
    assert starting <= set(STARTS_LEFT), (
        "start test apps with the make_harness fixture: " + ", ".join(sorted(starting))
    )
    fixed = set(STARTS_LEFT) - starting
    assert not fixed, "these no longer start apps themselves; strike them off: " + ", ".join(fixed)


def test_waiting_is_written_only_as_eventually() -> None:
    polling = {
        path
        for path, source in _test_modules().items()
        if path not in HELPERS and any(map(_is_polling_loop, ast.walk(ast.parse(source))))
    }
    assert polling <= set(LOOPS_LEFT), (
        "wait with tests.support.eventually, not a loop with a sleep: "
        + ", ".join(sorted(polling - set(LOOPS_LEFT)))
    )
    fixed = set(LOOPS_LEFT) - polling
    assert not fixed, "these no longer poll by hand; strike them off: " + ", ".join(fixed)


def test_the_polling_check_sees_a_hand_written_wait() -> None:
    loop = "async def f():\n    while not done():\n        await asyncio.sleep(0.1)\n"
    ranged = "def f():\n    for _ in range(9):\n        time.sleep(1)\n"
    straight = "async def f():\n    for n in range(3):\n        await asyncio.sleep(0.1)\n"
    found = [any(map(_is_polling_loop, ast.walk(ast.parse(s)))) for s in (loop, ranged, straight)]
    assert found == [True, True, False]
