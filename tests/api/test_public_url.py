"""Absolute URLs follow SWITCHBOARD_PUBLIC_URL, else a trusted proxy's X-Forwarded-*, else the
address the request came in on; an untrusted client's X-Forwarded-* change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from core.errors import InvalidSettings
from core.settings import load_settings
from tests.support import Harnesses

pytestmark = pytest.mark.anyio
METADATA = "/.well-known/oauth-protected-resource/mcp"
FORWARDED = {
    "X-Forwarded-Host": "chat.example.org",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "203.0.113.7",
}


@asynccontextmanager
async def _started(
    harnesses: Harnesses, client: tuple[str, int], **settings: object
) -> AsyncIterator[httpx.AsyncClient]:
    async with harnesses.running(**settings) as harness:
        transport = httpx.ASGITransport(app=harness.app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:9000") as c:
            yield c


async def _urls(client: httpx.AsyncClient) -> tuple[str, str]:
    """The metadata's resource and the /mcp 401's resource_metadata, as FORWARDED asks."""
    metadata = await client.get(METADATA, headers=FORWARDED)
    refused = await client.post("/mcp/", json={}, headers=FORWARDED)
    assert refused.status_code == 401
    named = refused.headers["www-authenticate"].split('resource_metadata="')[1].split('"')[0]
    return metadata.json()["resource"], named


async def test_a_trusted_proxys_forwarded_host_and_scheme_name_the_public_url(
    make_harness: Harnesses,
) -> None:
    started = _started(make_harness, ("10.1.2.3", 5000), trusted_proxies=["10.1.0.0/16"])
    async with started as client:
        resource, named = await _urls(client)
    assert resource == "https://chat.example.org/mcp"
    assert named == "https://chat.example.org" + METADATA


async def test_forwarded_headers_from_an_untrusted_client_are_ignored(
    make_harness: Harnesses,
) -> None:
    started = _started(make_harness, ("10.9.9.9", 5000), trusted_proxies=["10.1.0.0/16"])
    async with started as client:
        resource, named = await _urls(client)
    assert resource == "http://10.0.0.5:9000/mcp"  # the address the request came in on
    assert named == "http://10.0.0.5:9000" + METADATA


async def test_the_configured_public_url_wins_over_everything(make_harness: Harnesses) -> None:
    started = _started(
        make_harness,
        ("10.1.2.3", 5000),
        trusted_proxies=["10.1.2.3"],
        public_url="https://switchboard.example.com/",
    )
    async with started as client:
        resource, named = await _urls(client)
    assert resource == "https://switchboard.example.com/mcp"
    assert named == "https://switchboard.example.com" + METADATA


def test_a_trusted_proxy_must_be_an_address_or_a_network() -> None:
    with pytest.raises(InvalidSettings, match=r"SWITCHBOARD_TRUSTED_PROXIES.*proxy\.example"):
        load_settings(trusted_proxies="10.0.0.1,proxy.example")
