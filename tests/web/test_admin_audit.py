"""The admin page's audit log in a real browser: events listed, filtered, and the CSV link."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in

pytestmark = pytest.mark.browser


def test_admin_reads_the_audit_log_filters_failures_and_gets_the_csv(
    page: Page, site: Site
) -> None:
    wrong = {"username": "admin", "password": "not the password"}
    assert site.admin.post("/api/auth/login", json=wrong).status_code == 401
    log_in(page)
    page.goto("/#/admin/audit")
    events = page.get_by_role("table")
    expect(events).to_contain_text("sign_in.succeeded")
    page.get_by_label("Outcome").select_option("failure")
    expect(events).to_contain_text("sign_in.failed")
    expect(events).not_to_contain_text("sign_in.succeeded")
    href = page.get_by_role("link", name="Download CSV").get_attribute("href")
    assert href is not None and "format=csv" in href and "outcome=failure" in href
    answer = page.request.get(f"{site.url}{href}")
    assert answer.ok and answer.text().startswith("at,kind,outcome")
    assert "sign_in.failed" in answer.text() and "sign_in.succeeded" not in answer.text()
