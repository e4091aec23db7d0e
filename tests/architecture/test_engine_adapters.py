"""One adapter module per engine: the import-linter contracts cover every package, api/ included."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"api", "assistant", "billing", "core", "knowledge", "toolkits"}
ADAPTERS = {
    "litellm": "assistant.gateway.router",
    "tiktoken": "core.tokens",
    "sentence_transformers": "knowledge.embeddings",
    "qdrant_client": "knowledge.index_server",
    "qdrant_edge": "knowledge.index_edge",
}


def _contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    linter: dict[str, Any] = config["tool"]["importlinter"]
    assert linter["include_external_packages"] is True
    contracts: list[dict[str, Any]] = linter["contracts"]
    return contracts


def _forbidding(engine: str) -> dict[str, Any]:
    found = [
        c for c in _contracts() if c["type"] == "forbidden" and engine in c["forbidden_modules"]
    ]
    assert len(found) == 1, f"no single forbidden contract for {engine}"
    return found[0]


def test_each_engine_is_imported_only_by_its_one_adapter_module() -> None:
    for engine, adapter in ADAPTERS.items():
        contract = _forbidding(engine)
        assert set(contract["source_modules"]) == PACKAGES
        assert contract.get("ignore_imports", []) == [f"{adapter} -> {engine}"]


def test_mcp_is_imported_only_by_toolkits_and_the_mcp_mount() -> None:
    contract = _forbidding("mcp")
    assert set(contract["source_modules"]) == PACKAGES - {"toolkits"}
    assert contract["ignore_imports"] == ["api.mcp_server -> mcp"]


def test_no_domain_package_may_import_http_code() -> None:
    for engine in ("fastapi", "starlette", "sse_starlette"):
        contract = _forbidding(engine)
        assert set(contract["source_modules"]) == PACKAGES - {"api"}
        assert not contract.get("ignore_imports")
