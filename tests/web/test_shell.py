"""The page's shell in a real browser: log in and out, navigation, and the security headers."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.conftest import Site, accessible, log_in, screenshot


def test_wrong_password_shows_the_reason_and_right_one_logs_in(page: Page, site: Site) -> None:
    page.goto("/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text(re.compile("password", re.I))
    screenshot(page, "login")
    accessible(page, "the login form with its error")

    log_in(page)
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Chat", "Assistants", "Library", "Admin"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()


def test_members_see_no_admin_link_and_log_out_ends_the_session(page: Page, site: Site) -> None:
    site.user("mona")
    log_in(page, "mona", "a-long-password-1")
    expect(page.get_by_role("link", name="Chat")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    me = page.request.get(f"{site.url}/api/me")
    assert me.status == 401


def test_page_and_api_send_a_csp_that_forbids_inline_script(page: Page, site: Site) -> None:
    for path in ("/", "/static/js/main.js", "/api/health"):
        policy = page.request.get(f"{site.url}{path}").headers["content-security-policy"]
        script_src = re.search(r"script-src ([^;]+)", policy)
        assert script_src is not None and script_src.group(1).strip() == "'self'", policy
        assert "unsafe-inline" not in policy

    log_in(page)
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__inlineRan = true'; document.body.append(s); }"
    )
    assert page.evaluate("() => window.__inlineRan === true") is False
    # The browser reported the blocked script: that console error is the point of this test.
    site.problems[:] = [p for p in site.problems if "Content Security Policy" not in p]
