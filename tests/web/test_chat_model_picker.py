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
