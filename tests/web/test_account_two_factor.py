"""Two-factor sign-in in a real browser: set up on the account page, then sign in with a code."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in, screenshot

pytestmark = pytest.mark.browser
PASSWORD = "a-long-password-1"


def test_a_user_sets_up_two_factor_and_then_signs_in_with_a_code(page: Page, site: Site) -> None:
    site.user("tia")
    log_in(page, "tia", PASSWORD)
    page.get_by_role("link", name="tia").click()
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    secret = page.locator("code.secret").first.inner_text()
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from the app").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem")
    expect(codes).to_have_count(10)
    screenshot(page, "account-two-factor")
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_text("On. 10 recovery codes left.")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Username").fill("tia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    code = page.get_by_label("Authenticator code")
    expect(code).to_be_visible()
    near = {totp.at(time.time() + seconds) for seconds in (-30, 0, 30, 60)}
    code.fill(next(c for c in ("000000", "111111", "222222") if c not in near))
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text(re.compile("code", re.I))
    # the step the set-up used is spent; the next one's code is within the allowed drift
    code.fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"#/chat"))
