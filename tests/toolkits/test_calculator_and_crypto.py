"""The calculator's safe parser and the AES-GCM sealing of toolkit credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkits.calculator import InvalidExpression, evaluate
from toolkits.crypto import SealedValueUnreadable, Sealer, load_key


def test_the_calculator_does_arithmetic_with_precedence_and_functions() -> None:
    assert evaluate("1 + 2 * 3") == 7
    assert evaluate("2^10 - sqrt(16)") == 1020
    assert evaluate("(1 + 2) / 4") == 0.75


@pytest.mark.parametrize(
    "expression",
    ["__import__('os').system('id')", "(1).__class__", "9**9**9", "1/0", "x", "[1, 2]", "True"],
)
def test_the_calculator_refuses_anything_but_arithmetic(expression: str) -> None:
    with pytest.raises(InvalidExpression):
        evaluate(expression)


def test_sealed_values_open_only_with_the_same_key_and_context(tmp_path: Path) -> None:
    key = load_key("", tmp_path)
    assert (
        load_key("", tmp_path) == key
        and (tmp_path / "toolkit-secret.key").stat().st_mode & 0o77 == 0
    )
    sealed = Sealer(key).seal("token-123", context="toolkit-a")
    assert "token-123" not in sealed
    assert Sealer(key).open(sealed, context="toolkit-a") == "token-123"
    with pytest.raises(SealedValueUnreadable):
        Sealer(key).open(sealed, context="toolkit-b")
    with pytest.raises(SealedValueUnreadable):
        Sealer(load_key("", tmp_path / "other")).open(sealed, context="toolkit-a")
