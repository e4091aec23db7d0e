"""The admin page's usage trends in a real browser: cost by month and the top consumers."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in, screenshot


def _chat(client: httpx.Client, text: str = "Hello") -> httpx.Response:
    chat = client.post("/api/chats", json={"model": "fake"})
    chat.raise_for_status()
    return client.post(f"/api/chats/{chat.json()['id']}/messages", json={"content": text})


def test_monthly_cost_and_top_consumers_are_drawn_with_names(page: Page, site: Site) -> None:
    site.upstream.behave("fake", text="An answer with some tokens in it.")
    for _ in range(2):
        assert _chat(site.admin, "Count my tokens").status_code == 201
    log_in(page)
    page.goto("/#/admin/usage")
    monthly = page.get_by_role("img", name=re.compile("Monthly cost chart"))
    expect(monthly).to_be_visible()
    expect(monthly.locator("rect.bar")).to_have_count(1)  # this month, one model
    expect(page.get_by_role("list", name="Legend").last).to_contain_text("fake")
    users = page.get_by_role("img", name="Top consumers chart: Users")
    expect(users).to_contain_text("admin")
    expect(users.locator("rect.bar")).to_have_count(1)
    expect(page.get_by_role("img", name="Top consumers chart: Teams")).to_contain_text("Everyone")
    page.get_by_label("Stack").select_option("team")
    expect(page.get_by_role("list", name="Legend").last).to_contain_text("Everyone")
    page.get_by_label("Period").select_option("day")
    expect(page.get_by_role("img", name="Top consumers chart: Users")).to_contain_text("admin")
    screenshot(page, "admin-usage-trends")
