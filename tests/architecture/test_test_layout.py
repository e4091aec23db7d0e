"""The test tree says where each test's code lives (docs/development.md, "Tests").

A folder under tests/ named after a package mirrors it: tests/assistant/chat/ holds the tests of
assistant/chat/, tests/api/routes/ the HTTP tests of api/routes/. A test module there is named
test_<module>.py, or test_<module>_<aspect>.py when a module's tests are split by aspect, after a
module of the mirrored package (the one that owns the behaviour, when a test spans several). Every
routes module has HTTP tests named after it in tests/api/routes/."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
PACKAGES = ("api", "assistant", "billing", "core", "knowledge", "toolkits")
ROUTES = ROOT / "api" / "routes"

# Test modules named after no module, each with its reason. This list only shrinks (an entry whose
# file is gone or now matches a module fails the test).
UNNAMED: dict[str, str] = {
    "tests/api/test_generated_client.py": "the whole OpenAPI schema, through a generated client",
    "tests/api/test_schema_fuzz.py": "fuzzes every route of the OpenAPI schema",
    "tests/knowledge/test_isolation.py": "tenant isolation across parsing, indexing and search",
}

# Routes modules with no test_<module>*.py in tests/api/routes/: where their tests are instead.
ROUTES_TESTED_ELSEWHERE: dict[str, str] = {
    "api_tokens": "with sessions and logins in tests/api/routes/test_auth.py",
    "chat_folders": "with pins, tags and search in tests/api/routes/test_chats_organise.py",
    "docs": "in a browser, tests/web/test_api_docs.py",
    "health": "probes in tests/api/routes/test_chats.py and tests/ops/test_shutdown.py",
    "knowledge": "search with the library in tests/api/routes/test_library.py",
    "team_models": "with stored models in tests/api/routes/test_models_admin.py",
    "teams": "with users in tests/api/routes/test_users_teams.py",
    "usage_profiles": "with budgets in tests/api/routes/test_budgets.py",
    "web": "the page in tests/web/, Markdown rendering in tests/api/test_markdown.py",
}


def _modules(package: Path) -> set[str]:
    return {path.stem for path in package.glob("*.py") if path.stem != "__init__"}


def _owner(name: str, modules: set[str]) -> str | None:
    """The module test_<name>.py is named after: <name>, or the longest <m> of <m>_<aspect>."""
    matches = [m for m in modules if name == m or name.startswith(m + "_")]
    return max(matches, key=len) if matches else None


def _mirrored_test_modules() -> dict[str, str | None]:
    """Each test module in a mirroring folder, and the module it is named after (None: none)."""
    found: dict[str, str | None] = {}
    for package in PACKAGES:
        for path in sorted((TESTS / package).rglob("test_*.py")):
            source = ROOT / path.parent.relative_to(TESTS)
            owner = _owner(path.stem.removeprefix("test_"), _modules(source))
            found[str(path.relative_to(ROOT))] = owner
    return found


def test_test_folders_mirror_packages() -> None:
    strays = [
        str(folder.relative_to(ROOT))
        for package in PACKAGES
        for folder in [TESTS / package, *(TESTS / package).rglob("*")]
        if folder.is_dir()
        and folder.name != "__pycache__"
        and any(folder.glob("test_*.py"))
        and not (ROOT / folder.relative_to(TESTS) / "__init__.py").is_file()
    ]
    assert not strays, "these test folders mirror no package: " + ", ".join(strays)


def test_each_test_module_is_named_after_a_module_of_its_package() -> None:
    modules = _mirrored_test_modules()
    unnamed = {path for path, owner in modules.items() if owner is None}
    assert unnamed <= set(UNNAMED), (
        "name these test_<module>.py or test_<module>_<aspect>.py after a module of the package "
        "their folder mirrors (the module that owns the behaviour), or move them: "
        + ", ".join(sorted(unnamed - set(UNNAMED)))
    )
    stale = set(UNNAMED) - unnamed
    assert not stale, "these are gone or now named after a module; strike them off: " + ", ".join(
        sorted(stale)
    )


def test_each_routes_module_has_http_tests_named_after_it() -> None:
    routes = _modules(ROUTES)
    tested = {
        _owner(path.stem.removeprefix("test_"), routes)
        for path in (TESTS / "api" / "routes").glob("test_*.py")
    }
    untested = routes - tested - set(ROUTES_TESTED_ELSEWHERE)
    assert not untested, (
        "add tests/api/routes/test_<module>.py for these routes modules, or say where they are "
        "tested in ROUTES_TESTED_ELSEWHERE: " + ", ".join(sorted(untested))
    )
    stale = set(ROUTES_TESTED_ELSEWHERE) - (routes - tested)
    assert not stale, "these now have tests named after them, or are gone; strike them off: " + (
        ", ".join(sorted(stale))
    )
