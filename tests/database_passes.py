"""Which tests the PostgreSQL pass runs (a pytest plugin, loaded by pyproject's addopts).

`make test` runs the suite on SQLite, then again with SWITCHBOARD_TEST_DATABASE=postgres. The
second pass exists for behaviour that can differ by database: SQL, locking, transactions,
migrations, search, budgets under concurrency, anything stored or read through the services. A
test that never reaches a database proves the same thing twice, so the second pass keeps a test
only when

- it, or a fixture it uses (directly or through other fixtures), builds an app or a database:
  the fixtures in DATABASE_FIXTURES, or code that calls one of the functions `_entry_points`
  names. The test's own code, its fixtures' code and the tests' helper functions they call
  are followed (names resolved as Python resolves them, so `tests.toolkits.servers.serve`, a
  loopback MCP server, is not mistaken for `tests.served.serve`);
- and its module is not in SAME_ON_EVERY_DATABASE: modules that start an app only to test
  something no database changes (rendering, parsing, validation before any query, wire formats
  and HTTP clients). Each entry says why, and which tests run that module's stored side on both;
- and it does not pick its database itself. A test marked `postgres` makes its own database on
  the PostgreSQL server, and one marked `sqlite` its own SQLite file, whichever pass runs it
  (two served processes on one database, a fresh database's first start-up, a round-trip
  counter in front of PostgreSQL): the first pass already ran it exactly as the second would.

The page's browser tests (tests/web) stay on SQLite too: the data paths they drive are the
API's, whose own tests run on both. Code that cannot be read (no `__code__`) counts as reaching
a database, so the rule errs towards running a test twice."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from functools import cache
from types import CodeType, ModuleType
from typing import Any

import pytest

# Fixtures that build an app (and so a database) or hand out a database.
DATABASE_FIXTURES = frozenset({"make_harness", "make_module_harness", "harness", "postgres_url"})
PAGE_TESTS = "tests/web/"
# Marks of tests that make their own database, the same on both passes.
OWN_DATABASE_MARKS = ("postgres", "sqlite")
SAME_ON_EVERY_DATABASE = {
    "tests/assistant/gateway/test_router_provider_formats.py": (
        "provider wire formats through LiteLLM; the usage rows each call leaves are the same "
        "code as every model call's (tests/api/routes/test_usage.py, test_v1_*.py run on both)"
    ),
    "tests/api/routes/test_openai_litellm_client.py": (
        "LiteLLM as a client of /v1: wire formats and exception classes; /v1's stored side is "
        "test_openai.py's and test_v1_*.py's"
    ),
    "tests/api/routes/test_provider_types.py": "LiteLLM's provider list, read from LiteLLM",
    "tests/assistant/gateway/test_router_litellm_on_demand.py": (
        "whether a served process imports LiteLLM for a call; the calls' stored side is "
        "test_openai.py's and the chat tests'"
    ),
    "tests/api/test_markdown.py": "Markdown rendering, its limits and its in-memory cache",
    "tests/api/test_public_url.py": "URLs built from settings and forwarded headers",
    "tests/api/test_body_limits.py": "request bodies refused while they stream in, before a query",
    "tests/toolkits/test_web_search.py": (
        "an HTTP client of a SearXNG server: results checked, bad answers refused"
    ),
    "tests/toolkits/test_ssrf.py": "addresses refused before a connection (save and connect)",
    "tests/toolkits/test_stdio_pool.py": (
        "the processes of command-line MCP servers: reused, bounded, idle-closed, restarted; "
        "such toolkits are stored and listed by test_toolkits.py, on both"
    ),
    "tests/api/test_generated_client.py": (
        "the OpenAPI schema, and a client generated from it; the routes it calls (login, me, "
        "chats) are test_auth.py's and tests/api/routes/test_chats*.py's, on both"
    ),
}


def on_postgres() -> bool:
    return os.environ.get("SWITCHBOARD_TEST_DATABASE") == "postgres"


@cache
def _entry_points() -> frozenset[int]:
    """What starts an app or makes a database (by id: some are not hashable alike)."""
    from tests import postgres, served, support
    from tests.knowledge import apps

    return frozenset(
        id(form)
        for function in (
            served.serve,
            served.prepare,
            support.live_server,
            support.app_settings,
            support.fresh_database_url,
            support.migrated_sqlite,
            support.database_at,
            vars(support.AppHarness)["start"],
            postgres.create_database,
            postgres.copy_of_migrated,
            apps.knowledge_app,
        )
        for form in (function, inspect.unwrap(function))
    )


def _names(code: CodeType) -> Iterator[str]:
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            yield from _names(constant)


def _test_code(value: object) -> bool:
    return str(getattr(value, "__module__", "")).startswith("tests.")


def _referenced(value: object, names: frozenset[str]) -> Iterator[object]:
    """What a global name can reach: itself, a tests module's attributes the code names, or a
    tests class's methods."""
    if isinstance(value, ModuleType) and value.__name__.startswith("tests."):
        yield from (getattr(value, name) for name in names if hasattr(value, name))
    elif inspect.isclass(value) and _test_code(value):
        yield from (member for member in vars(value).values() if _function(member))
    else:
        yield value


def _function(value: object) -> bool:
    return inspect.isfunction(value) or isinstance(value, staticmethod | classmethod)


def _reaches(function: object, seen: set[int]) -> bool:
    function = inspect.unwrap(function)  # type: ignore[arg-type]
    if isinstance(function, staticmethod | classmethod):
        function = function.__func__
    if id(function) in seen:
        return False
    seen.add(id(function))
    if id(function) in _entry_points():
        return True
    if inspect.isclass(function):  # a tests class (only those are followed): its methods
        methods = [member for member in vars(function).values() if _function(member)]
        return any(_reaches(method, seen) for method in methods)
    code = getattr(function, "__code__", None)
    if code is None:
        return True
    names = frozenset(_names(code))
    scope: dict[str, Any] = getattr(function, "__globals__", {})
    return any(
        id(value) in _entry_points() or (_followed(value) and _reaches(value, seen))
        for name in names
        for value in _referenced(scope.get(name), names)
    )


def _followed(value: object) -> bool:
    """Test code worth reading on: the tests' own functions and classes."""
    return (_function(value) or inspect.isclass(value)) and _test_code(value)


def _code_of(item: pytest.Item) -> Iterator[Callable[..., Any]]:
    """The test function, every fixture function it uses, and callables it is parametrized with."""
    yield getattr(item, "function")  # noqa: B009 (pytest.Function's attribute)
    info = getattr(item, "_fixtureinfo", None)
    for definitions in getattr(info, "name2fixturedefs", {}).values():
        yield from (definition.func for definition in definitions)
    callspec = getattr(item, "callspec", None)
    for value in getattr(callspec, "params", {}).values():
        if callable(value) and _test_code(value):
            yield value


def reaches_database(item: pytest.Item) -> bool:
    if item.nodeid.startswith(PAGE_TESTS) or item.nodeid.split("::")[0] in SAME_ON_EVERY_DATABASE:
        return False
    if any(item.get_closest_marker(own) for own in OWN_DATABASE_MARKS):
        return False
    if DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    if not isinstance(item, pytest.Function):
        return True
    seen: set[int] = set()
    return any(_reaches(code, seen) for code in _code_of(item))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not on_postgres():
        return
    reaching = {item: reaches_database(item) for item in items}
    kept = [item for item in items if reaching[item]]
    left_out = [item for item in items if not reaching[item]]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
