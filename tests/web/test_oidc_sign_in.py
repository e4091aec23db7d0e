"""Signing in on the page with an OpenID provider's button, through a real provider."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.fakes.oidc_provider import OpenIdProvider
from tests.fakes.upstream import FakeUpstream
from tests.web.conftest import Site, site_with

pytestmark = pytest.mark.browser


@pytest.fixture
def site(upstream: FakeUpstream, tmp_path: Path, openid_provider: OpenIdProvider) -> Iterator[Site]:
    """The app with one provider, whose client takes the app's callback on any loopback port."""
    callback = "http://127.0.0.1/api/auth/oidc/acme/callback"
    client_id, secret = openid_provider.register_client(callback, native=True)
    provider = {
        "name": "acme",
        "displayName": "Acme SSO",
        "issuer": openid_provider.issuer,
        "clientId": client_id,
        "clientSecret": secret,
        "scopes": ["openid", "email", "profile", "groups"],
        "teamMapping": {"research": "Research"},
    }
    with site_with(upstream, tmp_path, oidc_providers=json.dumps([provider])) as started:
        yield started


def test_the_provider_button_signs_in(
    page: Page, site: Site, openid_provider: OpenIdProvider
) -> None:
    openid_provider.account(name="Rosalind F", preferred_username="rosalind", groups=("research",))
    page.goto("/#/login")
    page.get_by_role("link", name="Sign in with Acme SSO").click()
    page.wait_for_url(re.compile(r"#/chat"))
    expect(page.locator(".who")).to_have_text("Rosalind F")
    teams = site.admin.get("/api/teams", params={"q": "Research"}).json()["_embedded"]["teams"]
    assert [team["name"] for team in teams] == ["Research"]
