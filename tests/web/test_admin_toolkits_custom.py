"""The admin page in a real browser: an OpenAPI document by URL becomes a custom toolkit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.api.routes.test_toolkit_tools import petstore
from tests.fakes.upstream import FakeUpstream
from tests.toolkits.servers import serve
from tests.web.conftest import Site, log_in, site_with

pytestmark = pytest.mark.browser


@pytest.fixture
def spec_port() -> Iterator[int]:
    """A loopback server of a petstore OpenAPI document at /openapi.json."""
    port_box: list[int] = []

    async def document(_: Request) -> JSONResponse:
        return JSONResponse(petstore(f"http://127.0.0.1:{port_box[0]}"))

    with serve(Starlette(routes=[Route("/openapi.json", document)])) as port:
        port_box.append(port)
        yield port


@pytest.fixture
def site(upstream: FakeUpstream, tmp_path: Path, spec_port: int) -> Iterator[Site]:
    """The app, allowed to reach the loopback document server."""
    with site_with(upstream, tmp_path, toolkit_allowed_hosts=[f"127.0.0.1:{spec_port}"]) as started:
        yield started


def test_an_openapi_url_imports_a_custom_toolkit_with_its_operations(
    page: Page, site: Site, spec_port: int
) -> None:
    log_in(page)
    page.goto("/#/admin/toolkits")
    importing = page.get_by_role("form", name="Import OpenAPI")
    importing.get_by_label("OpenAPI URL").fill(f"http://127.0.0.1:{spec_port}/openapi.json")
    importing.get_by_role("button", name="Import OpenAPI").click()
    expect(page.get_by_text("Imported Petstore: 4 tools.")).to_be_visible()
    kit = page.get_by_role("region", name="Toolkit Petstore")
    expect(kit).to_contain_text(f"custom · http://127.0.0.1:{spec_port}/v1")
    kit.get_by_role("button", name="Tools of Petstore").click()
    tools = kit.get_by_role("list", name="Tools of Petstore")
    expect(tools.get_by_role("listitem")).to_have_count(4)
    expect(tools).to_contain_text("createPet")
    kit.get_by_role("button", name="Test").click()
    expect(kit.get_by_role("status")).to_contain_text("Connected: 4 tools.")
    creating = page.get_by_role("form", name="New custom toolkit")
    creating.get_by_label("Custom toolkit name").fill("Hand-made")
    creating.get_by_role("button", name="Add custom toolkit").click()
    expect(page.get_by_role("region", name="Toolkit Hand-made")).to_contain_text("custom")
