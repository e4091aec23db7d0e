"""Records with many fields are built by keyword, so two fields of one type cannot swap unseen."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("assistant", "billing", "knowledge", "toolkits")
MANY_FIELDS = 4

# Records still built positionally, each with its reason. This list only shrinks (an entry that is
# gone or now keyword-only fails the test).
POSITIONAL: dict[str, str] = {
    "assistant/gateway/passthrough.py::Request": "its module is being changed by the /v1 work",
}


def _decorator(node: ast.ClassDef) -> ast.expr | None:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if ast.unparse(target) in {"dataclass", "dataclasses.dataclass"}:
            return decorator
    return None


def _keyword_only(decorator: ast.expr) -> bool:
    keywords = decorator.keywords if isinstance(decorator, ast.Call) else []
    return any(
        k.arg == "kw_only" and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in keywords
    )


def _init_fields(node: ast.ClassDef) -> int:
    """The fields `__init__` takes: annotated names, not ClassVars nor `field(init=False)`."""
    count = 0
    for statement in node.body:
        if not isinstance(statement, ast.AnnAssign):
            continue
        if "ClassVar" in ast.unparse(statement.annotation):
            continue
        value = statement.value
        if isinstance(value, ast.Call) and any(
            k.arg == "init" and isinstance(k.value, ast.Constant) and k.value.value is False
            for k in value.keywords
        ):
            continue
        count += 1
    return count


def _positional_records() -> set[str]:
    """Dataclasses of the domain packages with MANY_FIELDS or more fields, not keyword-only."""
    found = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ClassDef):
                    continue
                decorator = _decorator(node)
                if decorator is None or _keyword_only(decorator):
                    continue
                if _init_fields(node) >= MANY_FIELDS:
                    found.add(f"{path.relative_to(ROOT)}::{node.name}")
    return found


def test_records_with_many_fields_are_keyword_only() -> None:
    unexpected = _positional_records() - POSITIONAL.keys()
    assert not unexpected, (
        f"make these @dataclass(kw_only=True) and build them by keyword: {sorted(unexpected)}"
    )


def test_the_list_of_positional_records_only_shrinks() -> None:
    stale = POSITIONAL.keys() - _positional_records()
    assert not stale, f"now keyword-only or gone, drop from POSITIONAL: {sorted(stale)}"
