"""The API documentation page (/docs) in a real browser, under the app's own CSP."""

from __future__ import annotations

from playwright.sync_api import Page, Request, expect

from tests.web.conftest import Site, screenshot


def test_docs_render_the_operations_from_this_server_under_the_csp(page: Page, site: Site) -> None:
    elsewhere: list[str] = []

    def note(request: Request) -> None:
        if not request.url.startswith(site.url):
            elsewhere.append(request.url)

    page.on("request", note)
    page.goto("/docs")
    # The first /openapi.json builds the schema of every route (~2.6 s on a loaded 2-core
    # machine) and Swagger UI then renders ~400 kB of it: more than expect's 5 s under load.
    health = page.locator(".opblock-summary-path", has_text="/api/health").first
    expect(health).to_be_visible(timeout=30_000)
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() > 50  # every operation is listed
    policy = page.request.get(f"{site.url}/docs").headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    screenshot(page, "api-docs")
    assert elsewhere == []  # nothing from a CDN (the fixture fails on CSP console errors)


def test_redoc_is_off_and_docs_serve_only_swagger_uis_own_files(page: Page, site: Site) -> None:
    assert page.request.get(f"{site.url}/redoc").status == 404
    assert page.request.get(f"{site.url}/docs/assets/swagger-ui-bundle.js").ok
    assert page.request.get(f"{site.url}/docs/assets/..%2F..%2Fcore.py").status == 404
    assert page.request.get(f"{site.url}/docs/assets/redoc.standalone.js").status == 404
