"""Which tests the PostgreSQL pass runs (a pytest plugin, loaded by pyproject's addopts).

`make test` runs the suite on SQLite, then again with SWITCHBOARD_TEST_DATABASE=postgres. A test
that never reaches a database proves the same thing twice, so the second pass leaves out every test
that neither uses a fixture building an app or a database nor, in its module, starts an app or
asks for a database itself. The page's browser tests (tests/web) stay on SQLite too: the data
paths they drive are the API's, whose own tests run on both."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest

# Fixtures that build an app (and so a database) or hand out a database.
DATABASE_FIXTURES = frozenset({"make_harness", "make_module_harness", "harness", "postgres_url"})
# What a test module calls when it starts an app or asks for a database without those fixtures.
DATABASE_CALLS = (
    "serve(",
    "live_server(",
    "app_settings(",
    "fresh_database_url(",
    "create_database(",
    "knowledge_app(",
)
PAGE_TESTS = "tests/web/"


def on_postgres() -> bool:
    return os.environ.get("SWITCHBOARD_TEST_DATABASE") == "postgres"


@cache
def _module_reaches_database(path: Path) -> bool:
    source = path.read_text(encoding="utf-8")
    return any(call in source for call in DATABASE_CALLS)


def reaches_database(item: pytest.Item) -> bool:
    if item.nodeid.startswith(PAGE_TESTS):
        return False
    if DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    return _module_reaches_database(Path(str(item.path)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not on_postgres():
        return
    kept = [item for item in items if reaches_database(item)]
    left_out = [item for item in items if not reaches_database(item)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
