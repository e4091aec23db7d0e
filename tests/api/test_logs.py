"""Which values the log filter masks (`api.logs.secrets_of`)."""

from __future__ import annotations

import json

from api import logs
from core.settings import load_settings
from tests.support import make_catalog


def test_openid_providers_client_secrets_are_masked_in_logs() -> None:
    provider = {
        "name": "corp",
        "issuer": "https://sso.example",
        "clientId": "switchboard",
        "clientSecret": "oidc-client-secret-8d2k",
    }
    settings = load_settings(oidc_providers=json.dumps([provider]))
    assert "oidc-client-secret-8d2k" in logs.secrets_of(settings, make_catalog("http://x"))
