"""The admin page in a real browser: users, teams, seats, budgets, usage chart and CSV, catalog."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.server.mcpserver import MCPServer
from playwright.sync_api import Browser, Page, expect

from tests.fakes.upstream import FakeUpstream
from tests.toolkits.servers import build_tool_server, change_weather_definition, mcp_app, serve
from tests.web.chat_steps import ask
from tests.web.conftest import Site, accessible, log_in, screenshot, site_with

MEMBER_PASSWORD = "a-long-password-1"


@pytest.fixture
def tool_server() -> Iterator[tuple[MCPServer, int]]:
    """An MCP server on loopback whose weather tool can change its definition."""
    server = build_tool_server()
    with serve(mcp_app(server)) as port:
        yield server, port


@pytest.fixture
def site(
    upstream: FakeUpstream, tmp_path: Path, tool_server: tuple[MCPServer, int]
) -> Iterator[Site]:
    """The app, allowed to reach the loopback MCP server."""
    allowed = [f"127.0.0.1:{tool_server[1]}"]
    with site_with(upstream, tmp_path, toolkit_allowed_hosts=allowed) as started:
        yield started


def _admin_team(site: Site) -> str:
    return str(site.admin.get("/api/me").json()["seat"]["teamId"])


def _seated_member(site: Site, username: str) -> str:
    """A member of the admin's team (Everyone, which every new user joins) holding one of its
    seats; returns the user id."""
    user_id = site.user(username)
    team_id = _admin_team(site)
    seats = site.admin.get(f"/api/teams/{team_id}/ai-subscription").json()["seats"]
    site.admin.put(
        f"/api/teams/{team_id}/ai-subscription", json={"seats": seats + 1}
    ).raise_for_status()
    site.admin.post(f"/api/teams/{team_id}/seats", json={"userId": user_id}).raise_for_status()
    return user_id


def _chat(client: httpx.Client, text: str = "Hello") -> httpx.Response:
    chat = client.post("/api/chats", json={"model": "fake"})
    chat.raise_for_status()
    return client.post(f"/api/chats/{chat.json()['id']}/messages", json={"content": text})


def _client_for(site: Site, username: str) -> httpx.Client:
    client = httpx.Client(base_url=site.url, timeout=30)
    login = client.post("/api/auth/login", json={"username": username, "password": MEMBER_PASSWORD})
    login.raise_for_status()
    client.headers["X-CSRF-Token"] = login.json()["csrfToken"]
    return client


def test_admin_adds_a_user_with_a_seat_and_deactivates_them(page: Page, site: Site) -> None:
    site.user("sam")  # made through the API: no seat
    team_id = _admin_team(site)
    seats = site.admin.get(f"/api/teams/{team_id}/ai-subscription").json()["seats"]
    site.admin.put(f"/api/teams/{team_id}/ai-subscription", json={"seats": seats + 1})
    (line,) = site.admin.get("/api/seats").json()["_embedded"]["seats"]
    log_in(page)
    page.goto("/#/admin/users")
    new_user = page.get_by_role("form", name="New user")
    new_user.get_by_label("Username").fill("nora")
    new_user.get_by_label("Display name").fill("Nora N.")
    new_user.get_by_label("Password").fill(MEMBER_PASSWORD)
    # A seat is offered from a team with a free one.
    expect(new_user.get_by_label("AI seat")).to_have_value(line["teamId"])
    new_user.get_by_role("button", name="Add user").click()
    table = page.get_by_role("table", name="Users")
    row = table.get_by_role("row").filter(has_text="nora")
    expect(row).to_contain_text("active")
    expect(row.get_by_role("cell").nth(4)).to_have_text(line["teamName"])
    expect(table.get_by_role("row").filter(has_text="sam").get_by_role("cell").nth(4)).to_have_text(
        "no seat"
    )
    accessible(page, "the admin's users table")
    nora = _client_for(site, "nora")
    assert nora.get("/api/me").json()["seat"]["teamId"] == line["teamId"]
    nora.close()
    row.get_by_role("button", name="Deactivate").click()
    expect(row.get_by_role("button", name="Reactivate")).to_be_visible()
    expect(row).to_contain_text("inactive")
    users = site.admin.get("/api/users", params={"q": "nora"}).json()["_embedded"]["users"]
    assert [(u["username"], u["active"]) for u in users] == [("nora", False)]
    screenshot(page, "admin-users")


def test_admin_makes_a_team_adds_members_and_assigns_and_unassigns_seats(
    page: Page, site: Site
) -> None:
    for name in ("ann", "ben"):
        site.user(name)
    log_in(page)
    page.goto("/#/admin/teams")
    page.get_by_role("form", name="New team").get_by_label("Team name").fill("Research")
    page.get_by_role("button", name="Add team").click()
    team = page.get_by_role("region", name="Team Research")
    for name in ("ann", "ben"):
        adding = team.get_by_role("form", name="Add a member to Research")
        adding.get_by_label("User").select_option(label=name)
        adding.get_by_role("button", name="Add member").click()
        expect(team.get_by_role("button", name=f"Remove {name}")).to_be_visible()

    page.get_by_role("link", name="Seats").click()
    setting = page.get_by_role("form", name="Set seats")
    setting.get_by_label("Team").select_option(label="Research")
    setting.get_by_label("Seats").fill("1")
    setting.get_by_role("button", name="Save seats").click()
    seats = page.get_by_role("region", name="Seats of Research")
    expect(seats).to_contain_text("0 of 1 seats used")
    seats.get_by_role("button", name="Assign ann").click()
    expect(seats).to_contain_text("1 of 1 seats used")
    expect(seats.get_by_role("button", name="Assign ben")).to_be_disabled()
    team_id = next(
        t["id"]
        for t in site.admin.get("/api/teams").json()["_embedded"]["teams"]
        if t["name"] == "Research"
    )
    held = site.admin.get(f"/api/teams/{team_id}/seats").json()["_embedded"]["seats"]
    assert len(held) == 1
    screenshot(page, "admin-seats")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "admin-seats-dark")
    page.emulate_media(color_scheme="light")
    accessible(page, "the admin's seats")

    seats.get_by_role("button", name="Unassign ann").click()
    expect(seats).to_contain_text("0 of 1 seats used")
    expect(seats.get_by_role("button", name="Assign ben")).to_be_enabled()
    assert site.admin.get(f"/api/teams/{team_id}/seats").json()["total"] == 0


def test_admin_sets_a_budget_and_the_member_then_sees_budget_exceeded_in_the_chat(
    page: Page, site: Site
) -> None:
    _seated_member(site, "mia")
    with closing(_client_for(site, "mia")) as mia:
        assert _chat(mia).status_code == 201
        log_in(page)
        page.goto("/#/admin/budgets")
        creating = page.get_by_role("form", name="New budget")
        creating.get_by_label("Budget name").fill("Mia's cap")
        creating.get_by_label("Applies to").select_option("user")
        creating.get_by_label("Who").select_option(label="mia")
        creating.get_by_label("Limit (US$)").fill("0")
        creating.get_by_role("button", name="Add budget").click()
        row = page.get_by_role("table", name="Budgets").get_by_role("row").filter(has_text="Mia")
        expect(row.get_by_role("meter")).to_be_visible()
        expect(row).to_contain_text("exceeded")
        screenshot(page, "admin-budgets")

        page.get_by_role("button", name="Log out").click()
        log_in(page, "mia", MEMBER_PASSWORD)
        ask(page, "One more question")
        alert = page.get_by_role("alert").filter(has_text="Budget exceeded")
        expect(alert).to_contain_text("Ask an admin to raise it")
        refused = _chat(mia)
        assert refused.status_code == 402, refused.text
        assert refused.json()["code"] == "budget_exceeded"

        page.get_by_role("button", name="Log out").click()
        log_in(page)
        page.goto("/#/admin/budgets")
        row.get_by_role("button", name="Edit Mia's cap").click()
        editing = row.get_by_role("form", name="Edit Mia's cap")
        editing.get_by_label("Limit (US$)").fill("5")
        editing.get_by_role("button", name="Save budget").click()
        expect(row).to_contain_text("$5.00 a month")
        assert _chat(mia).status_code == 201


def test_usage_chart_shows_the_chats_and_the_csv_downloads(page: Page, site: Site) -> None:
    site.upstream.behave("fake", text="An answer with some tokens in it.")
    for _ in range(2):
        assert _chat(site.admin, "Count my tokens").status_code == 201
    log_in(page)
    page.goto("/#/admin/usage")
    chart = page.get_by_role("img", name=re.compile("Usage chart"))
    expect(chart).to_be_visible()
    expect(chart.locator("rect.bar")).to_have_count(1)
    figures = page.get_by_role("table", name="Usage figures")
    expect(figures.get_by_role("row").filter(has_text="fake")).to_contain_text("2")
    page.get_by_label("Show").select_option("user")
    expect(figures.get_by_role("row").filter(has_text="admin")).to_be_visible()
    screenshot(page, "admin-usage")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "admin-usage-dark")
    page.emulate_media(color_scheme="light")
    accessible(page, "the admin's usage chart and figures")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    lines = Path(download.path()).read_text().splitlines()
    assert lines[0].startswith("user,userName,requests")  # the name beside the id
    assert len(lines) == 2 and lines[1].split(",")[1:3] == ["admin", "2"]


def test_models_providers_and_toolkits_show_what_is_configured(
    browser: Browser, site: Site
) -> None:
    context = browser.new_context(base_url=site.url, color_scheme="dark")
    try:
        dark = context.new_page()
        problems: list[Any] = []
        dark.on("pageerror", lambda error: problems.append(error))
        log_in(dark)
        dark.goto("/#/admin/models")
        models = dark.get_by_role("table", name="Models")
        expect(models.get_by_role("row", name=re.compile("^fake \\(default\\)"))).to_contain_text(
            "available"
        )
        expect(dark.get_by_role("table", name="Providers")).to_be_visible()
        screenshot(dark, "admin-models-dark")
        accessible(dark, "the admin's models and providers")

        dark.get_by_role("link", name="Toolkits").click()
        kits = dark.get_by_role("region", name=re.compile("^Toolkit "))
        expect(kits.first).to_be_visible()
        first = kits.first
        first.get_by_role("button", name=re.compile("^Tools of ")).click()
        expect(first.get_by_role("list", name=re.compile("^Tools of "))).to_be_visible()
        screenshot(dark, "admin-toolkits-dark")
        accessible(dark, "the admin's toolkits")
        assert not problems
    finally:
        context.close()


def test_admin_sections_fit_a_phone_in_dark_mode(browser: Browser, site: Site) -> None:
    assert _chat(site.admin).status_code == 201
    site.admin.post(
        "/api/usage-budgets",
        json={"name": "Everyone's month", "scope": "global", "limitMicros": 5_000_000},
    ).raise_for_status()
    context = browser.new_context(
        base_url=site.url, viewport={"width": 390, "height": 844}, color_scheme="dark"
    )
    try:
        phone = context.new_page()
        problems: list[Any] = []
        phone.on("pageerror", lambda error: problems.append(error))
        log_in(phone)
        for section in ("users", "teams", "seats", "budgets", "usage", "models", "toolkits"):
            phone.goto(f"/#/admin/{section}")
            expect(phone.locator("#page .panel").first).to_be_visible()
            width = phone.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390, f"{section} is {width}px wide on a 390px screen"
            if section in ("budgets", "usage"):
                screenshot(phone, f"admin-{section}-phone-dark")
        assert not problems
    finally:
        context.close()


def test_admin_adds_a_provider_and_a_model_and_tests_the_provider(page: Page, site: Site) -> None:
    log_in(page)
    page.goto("/#/admin/models")
    adding = page.get_by_role("form", name="New provider")
    adding.get_by_label("Provider name").fill("house")
    adding.get_by_label("Type").select_option("openai-compatible")
    adding.get_by_label("API base URL").fill(site.upstream.base_url)
    adding.get_by_label("API key").fill("sk-house-secret-123")
    adding.get_by_role("button", name="Add provider").click()
    providers = page.get_by_role("table", name="Providers")
    expect(providers.get_by_role("row").filter(has_text="house")).to_contain_text("key stored")

    model = page.get_by_role("form", name="New model")
    model.get_by_label("Model name").fill("house-model")
    model.get_by_role("combobox").select_option(label="house")
    model.get_by_label("Provider model id").fill("house-upstream")
    model.get_by_label("Input $ / 1M tokens").fill("1")
    model.get_by_label("Output $ / 1M tokens").fill("2")
    model.get_by_role("button", name="Add model").click()
    row = page.get_by_role("table", name="Models").get_by_role("row").filter(has_text="house-model")
    expect(row).to_contain_text("database")
    expect(row).to_contain_text("$1 / $2")

    house = providers.get_by_role("row").filter(has_text="house")
    house.get_by_role("button", name="Test house").click()
    # The first call through LiteLLM in a fresh app pays for importing it (seconds).
    expect(house.get_by_role("status")).to_contain_text("works", timeout=20_000)
    house.get_by_role("button", name="Replace key of house").click()
    house.get_by_role("textbox", name="New key for house").fill("sk-house-second-456")
    house.get_by_role("button", name="Save key").click()
    expect(house.get_by_role("form", name="New key for house")).to_have_count(0)
    row.get_by_role("button", name="Disable house-model").click()
    expect(row.get_by_role("button", name="Enable house-model")).to_be_visible()
    html = page.content()
    assert "sk-house-secret-123" not in html and "sk-house-second-456" not in html
    names = [m["name"] for m in site.admin.get("/api/models").json()["_embedded"]["models"]]
    assert "house-model" in names


def test_a_toolkit_added_on_the_page_lists_its_tools_and_a_changed_one_is_approved_again(
    page: Page, site: Site, tool_server: tuple[MCPServer, int]
) -> None:
    server, port = tool_server
    log_in(page)
    page.goto("/#/admin/toolkits")
    adding = page.get_by_role("form", name="New toolkit")
    adding.get_by_label("Toolkit name").fill("Loopback")
    adding.get_by_label("MCP server URL").fill(f"http://127.0.0.1:{port}/mcp")
    adding.get_by_role("button", name="Add toolkit").click()
    kit = page.get_by_role("region", name="Toolkit Loopback")
    kit.get_by_role("button", name="Test").click()
    expect(kit.get_by_role("status")).to_contain_text("Connected: 4 tools.")
    kit.get_by_role("button", name="Refresh").click()
    tools = kit.get_by_role("list", name="Tools of Loopback")
    weather = tools.get_by_role("listitem").filter(has_text="weather")
    expect(weather).to_contain_text("approved")

    change_weather_definition(server)
    kit.get_by_role("button", name="Refresh").click()
    expect(weather).to_contain_text("evil.example")
    expect(weather).to_contain_text("changed")
    screenshot(page, "admin-toolkit-changed")
    weather.get_by_role("button", name="Approve weather").click()
    expect(weather).to_contain_text("approved")
    expect(weather.get_by_role("button", name="Approve weather")).to_have_count(0)
    kit_id = next(
        k["id"]
        for k in site.admin.get("/api/toolkits").json()["_embedded"]["toolkits"]
        if k["name"] == "Loopback"
    )
    listed = site.admin.get(f"/api/toolkits/{kit_id}/tools").json()["_embedded"]["tools"]
    assert all(t["enabled"] for t in listed)
