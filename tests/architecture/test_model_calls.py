"""Every model call is metered: only `assistant/gateway/metering.py` reaches the router or relay."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "api", "assistant", "billing", "knowledge", "toolkits")
METERED = "assistant/gateway/metering.py"
ADAPTERS = {"assistant/gateway/router.py", "assistant/gateway/relay.py"}
# Wraps the gateway's calls in tracing spans at start-up; it calls no model of its own.
WRAPS = {"api/telemetry.py"}
MODEL_CALLS = {
    "stream",
    "complete",
    "embed_sync",
    "embeddings",
    "probe",
    "acompletion",
    "embedding",
    "aembedding",
}
CALLING_MODULES = {"litellm", "assistant.gateway.relay"}


def _modules() -> list[tuple[str, ast.Module]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = path.relative_to(ROOT).as_posix()
            found.append((name, ast.parse(path.read_text(encoding="utf-8"), filename=name)))
    return found


def _names_gateway(node: ast.expr) -> bool:
    """Whether an expression is a gateway (`gateway`, `self.gateway`, `services.gateway`, ...)."""
    if isinstance(node, ast.Attribute):
        return "gateway" in node.attr.lower()
    return isinstance(node, ast.Name) and "gateway" in node.id.lower()


def _offences(tree: ast.Module) -> list[str]:
    offences = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            imported = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            imported = []
        for name in imported:
            if name.split(".")[0] == "litellm" or name in CALLING_MODULES:
                offences.append(f"line {line}: imports {name}")
        if (
            isinstance(node, ast.Attribute)
            and node.attr in MODEL_CALLS
            and _names_gateway(node.value)
        ):
            offences.append(f"line {line}: uses the gateway's {node.attr}")
    return offences


def test_only_the_metered_call_module_calls_a_model() -> None:
    allowed = {METERED} | ADAPTERS | WRAPS
    found = {}
    for name, tree in _modules():
        if name not in allowed and (offences := _offences(tree)):
            found[name] = offences
    assert not found, (
        "call models through `Metering.call(...)` (assistant/gateway/metering.py), "
        "never the gateway, "
        f"the relay or LiteLLM directly: {found}"
    )


def test_the_check_sees_a_direct_gateway_call() -> None:
    source = (
        "from assistant.gateway.relay import Relay\n"
        "import litellm\n"
        "async def answer(services):\n"
        "    return await services.gateway.stream(model=None, messages=[], max_tokens=1)\n"
    )
    offences = _offences(ast.parse(source))
    assert len(offences) == 3, offences


def test_the_metered_call_module_is_the_one_that_calls_the_gateway() -> None:
    tree = ast.parse((ROOT / METERED).read_text(encoding="utf-8"))
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and _names_gateway(node.value)
    }
    assert {"stream", "complete", "embed_sync", "embeddings", "probe"} <= used
