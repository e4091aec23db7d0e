"""SSRF: URLs aimed at internal addresses are refused on save and on connect."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import AppHarness
from tests.toolkits.servers import Canary, redirect_app, serve
from toolkits.calls import Limits
from toolkits.errors import UnsafeUrl
from toolkits.mcp_client import ConnectionFailed, HttpTarget, McpConnector
from toolkits.ssrf import AddressPolicy

pytestmark = pytest.mark.anyio
LOOPBACK_FORMS = [
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "2130706433",
    "0x7f000001",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "0177.0000.0000.0001",
    "017700000001",
    "127.000.000.001",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]",
    "localhost",
    "LOCALHOST",
    "localhost.",
    "127.0.0.1.",
    "0.0.0.0",
    "0",
    "[::]",
    "%31%32%37.0.0.1",
    "127。0。0。1",
    "loopback.test",
    "rebind.test",
    "ip6-localhost",
]
PRIVATE_FORMS = [
    "10.0.0.1",
    "192.168.1.1",
    "172.16.0.1",
    "169.254.169.254",
    "100.64.0.1",
    "[fe80::1]",
    "[fc00::1]",
    "0xa9fea9fe",
    "[::ffff:169.254.169.254]",
    "metadata.google.internal",
]


def _names(host: str) -> list[str]:
    return {"loopback.test": ["127.0.0.1"], "rebind.test": ["93.184.216.34", "127.0.0.1"]}.get(
        host, []
    )


async def fake_resolver(host: str, port: int) -> list[str]:
    found = _names(host)
    if host in {"localhost", "ip6-localhost"}:
        found = ["127.0.0.1", "::1"]
    if not found:
        raise OSError("no such name")
    return found


def payloads(ports: list[int]) -> list[str]:
    urls: list[str] = []
    for port in ports:
        for host in LOOPBACK_FORMS:
            urls.append(f"http://{host}:{port}/mcp")
        urls += [
            f"http://user:pass@127.0.0.1:{port}/mcp",
            f"http://93.184.216.34@127.0.0.1:{port}/mcp",
            f"http://127.0.0.1:{port}#@93.184.216.34/mcp",
            f"https://127.0.0.1:{port}/mcp",
            f"gopher://127.0.0.1:{port}/_",
            f"HTTP://LocalHost:{port}/mcp",
        ]
    urls += [f"http://{host}/latest/meta-data" for host in PRIVATE_FORMS]
    urls += ["file:///etc/passwd", "file://localhost/etc/passwd", "dict://127.0.0.1:11211/"]
    return urls


@pytest.fixture
def canaries() -> Iterator[list[Canary]]:
    listeners = [Canary(), Canary(), Canary()]
    yield listeners
    for listener in listeners:
        listener.close()


async def test_internal_urls_are_refused_on_save_and_on_connect(
    canaries: list[Canary], harness: AppHarness
) -> None:
    urls = payloads([c.port for c in canaries])
    assert len(urls) >= 100
    policy = AddressPolicy(frozenset(), fake_resolver)
    connector = McpConnector(policy, Limits(call_timeout_seconds=2))
    for url in urls:
        with pytest.raises(UnsafeUrl):
            await policy.check_url(url)
        with pytest.raises(ConnectionFailed):
            await connector.list_tools(HttpTarget(url))
        saved = await harness.client.post(
            "/api/toolkits", json={"name": "x", "url": url}, headers=harness.admin.headers
        )
        assert saved.status_code == 422, (url, saved.text)
    assert [c.connections for c in canaries] == [0, 0, 0]


async def test_redirects_to_internal_hosts_are_not_followed(canaries: list[Canary]) -> None:
    targets = [f"http://127.0.0.1:{canaries[0].port}/mcp", f"http://localhost:{canaries[1].port}/"]
    for target in targets:
        with serve(redirect_app(target)) as port:
            policy = AddressPolicy(frozenset({f"127.0.0.1:{port}"}), fake_resolver)
            connector = McpConnector(policy, Limits(call_timeout_seconds=3))
            with pytest.raises(ConnectionFailed):
                await connector.list_tools(HttpTarget(f"http://127.0.0.1:{port}/mcp"))
    assert [c.connections for c in canaries] == [0, 0, 0]


async def test_an_allowed_host_is_allowed_only_on_its_port(canaries: list[Canary]) -> None:
    policy = AddressPolicy.from_setting([f"127.0.0.1:{canaries[0].port}"], fake_resolver)
    await policy.check_url(f"http://127.0.0.1:{canaries[0].port}/mcp")
    with pytest.raises(UnsafeUrl):
        await policy.check_url(f"http://127.0.0.1:{canaries[1].port}/mcp")
    assert canaries[1].connections == 0
