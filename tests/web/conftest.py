"""Browser fixtures: Debian's chromium driven by Playwright, against the app on a loopback server.

Every page records its script errors and console errors; a test fails if any appeared (that is
also how the XSS tests see an injected script run). Screenshots go to test-artifacts/screenshots.
`accessible(page)` runs axe-core (tests/node) on the page as it is, in the light and dark theme."""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from core.catalog import Catalog
from tests.fakes.upstream import FakeUpstream
from tests.support import ADMIN, PASSWORD, live_server, make_catalog

CHROMIUM = Path(os.environ.get("SWITCHBOARD_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
AXE = Path(__file__).resolve().parents[1] / "node" / "node_modules" / "axe-core" / "axe.min.js"
# Served to the page from its own origin, so the CSP (script-src 'self') lets it run unchanged.
_AXE_PATH = "/__test-axe-core.js"
_AXE_ROUTED: weakref.WeakSet[Page] = weakref.WeakSet()
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Chromium for one test module.

    Module scope, not session: while Playwright's sync API is active it holds an event loop in
    this thread, which the async tests that may follow on the same worker cannot share."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM}: install Debian's package "
            "(`apt-get install chromium`, .ci/run does) or set SWITCHBOARD_TEST_CHROMIUM."
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@dataclass
class Site:
    """The app under test: its URL, the fake provider behind it and an admin API client."""

    url: str
    upstream: FakeUpstream
    admin: httpx.Client
    problems: list[str] = field(default_factory=list)

    def user(self, username: str, password: str = "a-long-password-1", role: str = "member") -> str:
        """Create a user through the API; returns its id."""
        answer = self.admin.post(
            "/api/users",
            json={
                "username": username,
                "password": password,
                "role": role,
                "displayName": username,
            },
        )
        answer.raise_for_status()
        return str(answer.json()["id"])


# Idle connections dropped well before uvicorn closes them (5 s): reusing one the server is
# closing that instant failed a page test with "Connection reset by peer".
_KEEP_ALIVE = httpx.Limits(keepalive_expiry=2.0)


@contextmanager
def site_with(
    upstream: FakeUpstream, tmp_path: Path, *, catalog: Catalog | None = None, **settings: Any
) -> Iterator[Site]:
    """The app on a real uvicorn server with these settings (and `catalog`, else the fake
    upstream's models), and an admin signed in to it."""
    with (
        live_server(catalog or make_catalog(upstream.base_url), tmp_path, **settings) as url,
        httpx.Client(base_url=url, timeout=30, limits=_KEEP_ALIVE) as admin,
    ):
        login = admin.post("/api/auth/login", json={"username": ADMIN, "password": PASSWORD})
        login.raise_for_status()
        admin.headers["X-CSRF-Token"] = login.json()["csrfToken"]
        yield Site(url=url, upstream=upstream, admin=admin)


@pytest.fixture
def site(upstream: FakeUpstream, tmp_path: Path) -> Iterator[Site]:
    """The app on a real uvicorn server, with the fake provider behind the `fake` model."""
    with site_with(upstream, tmp_path) as started:
        yield started


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    """A fresh browser context on the site; fails the test on any script or console error."""
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    opened = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not _expected_console_error(message.text):
            site.problems.append(f"console: {message.text}")

    opened.on("pageerror", lambda error: site.problems.append(f"page error: {error}"))
    opened.on("console", on_console)
    yield opened
    context.close()
    assert not site.problems, "the page logged errors:\n" + "\n".join(site.problems)


def _expected_console_error(text: str) -> bool:
    # Chromium logs every non-2xx fetch the page makes; the page handles those answers itself.
    return bool(re.search(r"Failed to load resource: the server responded with a status of", text))


def log_in(page: Page, username: str = ADMIN, password: str = PASSWORD) -> None:
    """Log in through the login form and wait for the chat page."""
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"#/chat"))


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact (not compared with anything)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessible(page: Page, state: str) -> None:
    """Assert axe-core finds no serious or critical violation on the page now, in both themes.

    `state` names what is on screen, for the failure message. The page's theme follows the
    emulated system setting (app.css), so each theme is checked by emulating it."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci --prefix tests/node`.")
    if page not in _AXE_ROUTED:
        page.route(f"**{_AXE_PATH}", lambda route: route.fulfill(path=str(AXE)))
        _AXE_ROUTED.add(page)
    if not page.evaluate("() => Boolean(window.axe)"):
        page.add_script_tag(url=_AXE_PATH)
    found = []
    for scheme in ("dark", "light"):
        page.emulate_media(color_scheme=scheme)
        for violation in page.evaluate(_RUN_AXE):
            found.append(f"{scheme}: {violation}")
    assert not found, f"accessibility problems ({state}):\n" + "\n".join(found)


_RUN_AXE = """async () => {
  const result = await window.axe.run(document, { resultTypes: ['violations'] });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}; ` + v.nodes.slice(0, 4)
      .map((n) => `${n.target.join(' ')} ${n.failureSummary || ''}`.replace(/\\s+/g, ' '))
      .join(' | '));
}"""
