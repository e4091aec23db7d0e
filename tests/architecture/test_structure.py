"""The codebase keeps its shape: one-way imports, small modules, errors that map to a status."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

from api.errors import status_for
from core.errors import SwitchboardError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "api", "assistant", "billing", "knowledge", "toolkits")
MAX_MODULE_LINES = 400


def test_packages_import_only_to_their_right() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_module_is_longer_than_the_cap() -> None:
    long = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_MODULE_LINES:
                long.append(f"{path.relative_to(ROOT)} ({lines} lines)")
    assert not long, "split these by concept: " + ", ".join(long)


def test_domain_packages_hold_no_http_code() -> None:
    offenders = []
    for package in ("core", "assistant", "billing", "knowledge", "toolkits"):
        for path in (ROOT / package).rglob("*.py"):
            for line in path.read_text(encoding="utf-8").splitlines():
                stripped = line.strip()
                if stripped.startswith(("import ", "from ")) and stripped.split()[1].split(".")[
                    0
                ] in {"fastapi", "starlette", "sse_starlette"}:
                    offenders.append(str(path.relative_to(ROOT)))
    assert not offenders


def _all_errors() -> list[type[SwitchboardError]]:
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            if ".migrations" in info.name:
                continue
            importlib.import_module(info.name)
    found: list[type[SwitchboardError]] = []
    pending: list[type[SwitchboardError]] = [SwitchboardError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_domain_error_maps_to_a_client_or_unavailable_status() -> None:
    errors = _all_errors()
    assert len(errors) > 30
    for cls in errors:
        error = cls.__new__(cls)
        status = status_for(error)
        assert 400 <= status < 500 or status == 503, (cls, status)
        assert cls.code and cls.code == cls.code.lower() and " " not in cls.code, cls
        assert (cls.__doc__ or "").strip(), f"{cls.__name__} needs a docstring a user can read"
