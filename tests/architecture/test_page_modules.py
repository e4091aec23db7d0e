"""The page's ES modules: one entry point, no import cycle, one path style, one CSRF reader."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "api" / "static"
JS = STATIC / "js"
# Classic scripts that are not part of the page's module graph: Swagger UI's starter on /docs
# (loaded with a plain <script src> by api/routes/docs.py).
CLASSIC_SCRIPTS = {JS / "docs.js"}

_STATIC_IMPORT = re.compile(
    r"^\s*(?:import|export)\s+(?:[\w$*{},\s]+?\s+from\s+)?(['\"])(?P<path>[^'\"]+)\1", re.M
)
_DYNAMIC_IMPORT = re.compile(r"\bimport\(\s*(['\"`])(?P<path>[^'\"`]+)\1\s*\)")
_MODULE_SCRIPT = re.compile(r'<script\s+type="module"\s+src="(?P<src>[^"]+)"')
_TEMPLATE = re.compile(r"\$\{[^}]*\}")
_RELATIVE_JS = re.compile(r"^\.\.?/(?:\.\./)*[\w./-]*\.js$")


def _modules() -> list[Path]:
    return sorted(path for path in JS.rglob("*.js") if path not in CLASSIC_SCRIPTS)


def _specifiers(module: Path) -> list[str]:
    text = module.read_text(encoding="utf-8")
    found = [m.group("path") for m in _STATIC_IMPORT.finditer(text)]
    return found + [m.group("path") for m in _DYNAMIC_IMPORT.finditer(text)]


def _targets(module: Path, specifier: str) -> list[Path]:
    """The files a specifier can load; a template (`./pages/${name}.js`) is any file it fits."""
    pattern = _TEMPLATE.sub("*", specifier)
    if "*" in pattern:
        return sorted(path.resolve() for path in module.parent.glob(pattern))
    return [(module.parent / specifier).resolve()]


def _graph() -> dict[Path, list[Path]]:
    return {
        module.resolve(): [
            target for spec in _specifiers(module) for target in _targets(module, spec)
        ]
        for module in _modules()
    }


def _entry_points() -> list[Path]:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    sources = [m.group("src") for m in _MODULE_SCRIPT.finditer(html)]
    return [(STATIC / src.removeprefix("/static/")).resolve() for src in sources]


def test_the_page_loads_main_js_as_its_one_module_script() -> None:
    assert _entry_points() == [(JS / "main.js").resolve()]


def test_page_modules_import_each_other_by_relative_path_with_the_js_extension() -> None:
    wrong = [
        f"{module.relative_to(JS)}: {spec}"
        for module in _modules()
        for spec in _specifiers(module)
        if not _RELATIVE_JS.match(_TEMPLATE.sub("name", spec))
    ]
    assert not wrong, "write imports as './x.js' or '../dir/x.js': " + ", ".join(wrong)


def test_every_imported_page_module_exists() -> None:
    missing = [
        f"{module.relative_to(JS)}: {spec}"
        for module in _modules()
        for spec in _specifiers(module)
        if not all(target.is_file() for target in _targets(module, spec))
        or not _targets(module, spec)
    ]
    assert not missing


def test_no_page_module_imports_the_entry_point() -> None:
    entries = set(_entry_points())
    offenders = [
        str(module.relative_to(JS.resolve()))
        for module, targets in _graph().items()
        if entries.intersection(targets)
    ]
    assert not offenders, "import http.js, dom.js, format.js or pageparts.js instead: " + ", ".join(
        offenders
    )


def test_page_modules_import_one_another_without_a_cycle() -> None:
    graph = _graph()
    done: set[Path] = set()
    cycles: list[str] = []

    def visit(module: Path, trail: list[Path]) -> None:
        if module in trail:
            loop = [*trail[trail.index(module) :], module]
            cycles.append(" -> ".join(str(step.relative_to(JS.resolve())) for step in loop))
            return
        if module in done:
            return
        for target in graph.get(module, []):
            visit(target, [*trail, module])
        done.add(module)

    for module in graph:
        visit(module, [])
    assert not cycles, "; ".join(cycles)


def test_every_page_module_is_type_checked() -> None:
    unchecked = [
        str(module.relative_to(JS))
        for module in _modules()
        if not module.read_text(encoding="utf-8").startswith("// @ts-check\n")
    ]
    assert not unchecked, "start these with // @ts-check: " + ", ".join(unchecked)


def test_only_http_js_reads_the_csrf_cookie() -> None:
    readers = [
        str(module.relative_to(JS))
        for module in _modules()
        if module.name != "http.js"
        and re.search(r"document\.cookie|switchboard_csrf", module.read_text(encoding="utf-8"))
    ]
    assert not readers, "use csrfToken() from http.js: " + ", ".join(readers)
