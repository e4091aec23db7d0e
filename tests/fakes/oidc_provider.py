"""A real OpenID provider for the tests: panva's oidc-provider (npm, tests/node) run with node on
loopback by tests/node/oidc_provider.mjs. The tests register clients through its dynamic
registration endpoint, add accounts (with e-mail and groups claims, optionally a fault its
token endpoint puts into their ID tokens) and walk its authorization flow as a browser would."""

from __future__ import annotations

import json
import secrets
import selectors
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "oidc_provider.mjs"
START_SECONDS = 15


@dataclass
class Account:
    """An account at the provider, as its claims say."""

    sub: str
    email: str | None
    email_verified: bool = True
    groups: tuple[str, ...] = ()
    name: str = ""
    preferred_username: str = ""
    tamper: str | None = None  # foreign-key, wrong-audience, expired, wrong-nonce, other-azp


class OpenIdProvider:
    """The node process and what the tests do with it."""

    def __init__(self, process: subprocess.Popen[bytes], issuer: str) -> None:
        self.process = process
        self.issuer = issuer

    @classmethod
    def start(cls) -> OpenIdProvider:
        """Start the provider and wait for the line naming its issuer.

        Raises:
            RuntimeError: node or the npm packages are missing, or the provider did not start.
        """
        node = shutil.which("node")
        if node is None or not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(
                "The OpenID sign-in tests need node and tests/node's npm packages: "
                "run `make install-dev` (npm ci --prefix tests/node)."
            )
        process = subprocess.Popen(
            [node, str(SCRIPT)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert process.stdout is not None
        # A selector, not select(): a worker of the suite may hold file descriptors past 1024.
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(START_SECONDS)
        line = process.stdout.readline() if ready else b""
        if not line:
            process.kill()
            raise RuntimeError("The OpenID provider (tests/node/oidc_provider.mjs) did not start.")
        return cls(process, str(json.loads(line)["issuer"]))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def register_client(self, *redirect_uris: str, native: bool = False) -> tuple[str, str]:
        """A new client (RFC 7591 registration); its id and secret. A `native` client's
        loopback redirect URIs match on any port (RFC 8252), for an app on a random port."""
        body = {
            "application_type": "native" if native else "web",
            "redirect_uris": list(redirect_uris),
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "id_token_signed_response_alg": "ES256",
        }
        answer = httpx.post(f"{self.issuer}/reg", json=body, timeout=10)
        answer.raise_for_status()
        made = answer.json()
        return str(made["client_id"]), str(made["client_secret"])

    def account(self, **claims: Any) -> Account:
        """Add an account (a fresh `sub` unless given); returns it."""
        claims.setdefault("sub", "sub-" + secrets.token_hex(6))
        claims.setdefault("email", f"{claims['sub']}@example.com")
        account = Account(**claims)
        self.put(account)
        return account

    def put(self, account: Account) -> None:
        """Add or replace an account."""
        body = {key: value for key, value in account.__dict__.items() if value is not None}
        body["groups"] = list(account.groups)
        answer = httpx.post(f"{self.issuer}/test/accounts", json=body, timeout=10)
        answer.raise_for_status()

    async def authorize(self, url: str, *, back_to: str) -> str:
        """Walk the provider's redirects from an authorization URL as a fresh browser would
        (its login and consent pages answer at once, for the login_hint's account), up to the
        first redirect to `back_to`; returns that URL (the callback with code and state)."""
        async with httpx.AsyncClient(timeout=10) as browser:
            for _ in range(10):
                answer = await browser.get(url)
                assert answer.is_redirect, f"{answer.status_code}: {answer.text[:500]}"
                url = urljoin(url, answer.headers["location"])
                if url.startswith(back_to):
                    return url
        raise AssertionError("the provider never redirected back")


def query_of(url: str) -> dict[str, str]:
    """A URL's query parameters (the first value of each)."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
