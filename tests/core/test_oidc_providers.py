"""SWITCHBOARD_OIDC_PROVIDERS: a bad entry stops start-up with a message naming it, never the
client secret."""

from __future__ import annotations

import json

import pytest

from core.errors import InvalidSettings
from core.settings import load_settings

GOOD = {
    "name": "keycloak",
    "issuer": "https://sso.example/realms/acme",
    "clientId": "switchboard",
    "clientSecret": "hunter2-secret",
}


def test_a_provider_list_is_read_with_its_defaults() -> None:
    settings = load_settings(
        oidc_providers=json.dumps([{**GOOD, "allowedDomains": ["@Acme.example"]}])
    )
    (provider,) = settings.oidc_providers
    assert provider.label == "keycloak" and provider.scopes == ("openid", "email", "profile")
    assert provider.allowed_domains == ("acme.example",) and provider.link_by_email is False


@pytest.mark.parametrize(
    ("entries", "named"),
    [
        ([{**GOOD, "issuer": "http://sso.example"}], "SWITCHBOARD_OIDC_PROVIDERS_0_ISSUER"),
        ([{**GOOD, "name": "Has Spaces"}], "SWITCHBOARD_OIDC_PROVIDERS_0_NAME"),
        ([{**GOOD, "scopes": ["email"]}], "SWITCHBOARD_OIDC_PROVIDERS_0_SCOPES"),
        ([{**GOOD, "adminGroup": ["typo"]}], "SWITCHBOARD_OIDC_PROVIDERS_0_ADMINGROUP"),
        ([{k: v for k, v in GOOD.items() if k != "clientId"}], "_0_CLIENTID"),
        ([GOOD, GOOD], "two providers are named 'keycloak'"),
    ],
)
def test_a_bad_entry_stops_start_up_naming_it(entries: list[dict[str, object]], named: str) -> None:
    with pytest.raises(InvalidSettings) as raised:
        load_settings(oidc_providers=json.dumps(entries))
    assert named in raised.value.message
    assert "hunter2" not in raised.value.message
