"""The chat page's model picker lists only what the user's usage profile lets them call."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in


def test_the_model_picker_lists_only_the_models_a_usage_profile_allows(
    page: Page, site: Site
) -> None:
    me = site.admin.get("/api/me")
    me.raise_for_status()
    profile = site.admin.post(
        "/api/usage-profiles",
        json={
            "name": "Two models",
            "scope": "user",
            "scopeId": me.json()["id"],
            "allowedModels": ["fake", "fake-backup"],
        },
    )
    assert profile.status_code == 201, profile.text
    log_in(page)
    picker = page.get_by_label("Model")
    expect(picker.locator("option")).to_have_text(["fake", "fake-backup"])
    expect(picker).to_have_value("fake")


def test_the_model_picker_says_what_the_model_can_do_and_costs(page: Page, site: Site) -> None:
    models = {m["id"]: m for m in site.admin.get("/api/models").json()["_embedded"]["models"]}
    log_in(page)
    info = page.locator("#chat-model-info")
    expect(page.get_by_label("Model")).to_have_attribute("aria-describedby", "chat-model-info")
    fake = models["fake"]
    expected = f"${fake['promptPpm']:.2f} in / ${fake['completionPpm']:.2f} out per 1M tokens"
    expect(info).to_contain_text(expected)
    expect(info).to_contain_text(f"{round(fake['contextWindow'] / 1000)}k context")
