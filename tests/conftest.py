"""Fixtures every test may use: the fake upstream, a test catalog, the app and clients, and the
loopback MCP tool server (toolkit, tool-loop and toolkit-route tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from argon2.profiles import CHEAPEST

from core.environment import prepare_offline

prepare_offline()

from core import passwords  # noqa: E402
from tests.fakes.oidc_provider import OpenIdProvider  # noqa: E402
from tests.fakes.upstream import FakeUpstream  # noqa: E402
from tests.support import AppHarness, Harnesses, make_catalog, real_password_cost  # noqa: E402
from tests.toolkits.servers import build_tool_server, mcp_app, serve  # noqa: E402

# Argon2 at the application's cost takes ~120 ms of CPU a hash, and every app a test starts
# hashes its admin's password, every member and password login one more: tests hash with
# argon2's cheapest parameters. A test that measures hashing asks for `real_password_hashing`;
# served processes (tests/served.py) hash at the application's cost.
passwords.use_parameters(CHEAPEST)


@pytest.hookimpl(wrapper=True)  # around xdist's own hook (--dist loadgroup)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Iterator[None]:
    """Keep a module's tests that share a module-scoped fixture (an app, a served process, a
    browser) on one xdist worker: dealt out one by one, both workers would set it up."""
    for item in items:
        definitions = getattr(item, "_fixtureinfo").name2fixturedefs.values()  # noqa: B009
        shared = any(chain[-1].scope == "module" for chain in definitions)
        if shared and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    yield
    if getattr(config.option, "loadgroup", False):  # an xdist worker under --dist loadgroup
        for item in items:
            _name_group(item)


def _name_group(item: pytest.Item) -> None:
    """Give a grouped test the `@group` suffix the loadgroup scheduler reads from its id.

    xdist 3.8 writes the suffix to `item._nodeid`, which pytest 9.2 no longer reads (ids are
    structured, in `item._id`): every test was dealt out alone and each worker set up the
    module fixtures again (pytest-dev/pytest-xdist#1386). Nothing to do once xdist does it."""
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    suffix = "@" + "_".join(sorted(names))
    identity = getattr(item, "_id", None)
    if names and identity is not None and not item.nodeid.endswith(suffix):
        item._id = type(identity).parse(item.nodeid + suffix)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def fake_upstream_server() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def openid_provider() -> Iterator[OpenIdProvider]:
    """A real OpenID provider (oidc-provider under node) on loopback, for sign-in tests."""
    provider = OpenIdProvider.start()
    yield provider
    provider.stop()


@pytest.fixture
def upstream(fake_upstream_server: FakeUpstream) -> FakeUpstream:
    """The fake provider, with behaviours and recordings reset for this test."""
    fake_upstream_server.reset()
    return fake_upstream_server


@pytest.fixture
async def make_harness(upstream: FakeUpstream, tmp_path: Path) -> AsyncIterator[Harnesses]:
    """Starts apps with settings overrides (`await make_harness(**settings)`); every app it
    started stops when the test ends."""
    async with AsyncExitStack() as stack:
        yield Harnesses(stack, make_catalog(upstream.base_url), tmp_path)


@pytest.fixture(scope="module")
async def make_module_harness(
    fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Harnesses]:
    """make_harness for apps a whole module shares (started once, stopped after its last test)."""
    async with AsyncExitStack() as stack:
        folder = tmp_path_factory.mktemp("app")
        yield Harnesses(stack, make_catalog(fake_upstream_server.base_url), folder)


@pytest.fixture
def real_password_hashing() -> Iterator[None]:
    """Argon2 at the application's own cost during this test (the suite hashes cheaply)."""
    with real_password_cost():
        yield


@pytest.fixture
async def harness(make_harness: Harnesses) -> AppHarness:
    """A running app (lifespan included) on a fresh SQLite database, with an admin."""
    return await make_harness()


@pytest.fixture
def tool_server() -> Iterator[tuple[Any, int]]:
    """The loopback MCP tool server over Streamable HTTP, and its port."""
    server = build_tool_server()
    with serve(mcp_app(server)) as port:
        yield server, port
