"""The SSRF guard: which URLs and addresses Switchboard may connect to for a user's toolkit.

A URL is checked when a toolkit is saved and again on every connection: the guard resolves the
name, refuses the connection when any address is not a public one, and then connects to the very
address it checked (so a name cannot resolve to something else between the check and the connect).
Every connection of the HTTP client goes through it, so redirects are re-checked as well. Admins can
allow specific hosts (`host` or `host:port`) with SWITCHBOARD_TOOLKIT_ALLOWED_HOSTS.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import anyio
import httpcore2

from core.addresses import IPAddress, Resolver, is_public, system_resolver
from toolkits.errors import UnsafeUrl

_HOST_CHARS = re.compile(r"^[a-z0-9.-]+$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_DOTTED_QUAD = re.compile(
    r"^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$"
)


@dataclass(frozen=True)
class Endpoint:
    """Where a checked URL points: scheme, host (lower case, IPv6 without brackets) and port."""

    scheme: str
    host: str
    port: int


def parse(url: str) -> Endpoint:
    """The endpoint of an http(s) URL, refusing forms that hide where it really points.

    Raises:
        UnsafeUrl: not http(s), credentials in the URL, or a host written in an ambiguous form
            (decimal, octal or hex numbers, short dotted forms, percent-encoding, non-ASCII).
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl("That URL cannot be parsed.", url=url[:200]) from exc
    if parts.scheme not in {"http", "https"}:
        raise UnsafeUrl("Only http and https URLs can be used.", url=url[:200])
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise UnsafeUrl("Put credentials in headers, not in the URL.", url=url[:200])
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("The URL has no host.", url=url[:200])
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise UnsafeUrl("The URL's IPv6 address is not valid.", url=url[:200]) from exc
    elif not _HOST_CHARS.match(host) or (_looks_numeric(host) and not _DOTTED_QUAD.match(host)):
        raise UnsafeUrl("The URL's host is written in a form that is not allowed.", url=url[:200])
    default = 443 if parts.scheme == "https" else 80
    return Endpoint(parts.scheme, host, port or default)


def _looks_numeric(host: str) -> bool:
    labels = host.split(".")
    return _NUMERIC_LABEL.match(labels[-1]) is not None or all(
        _NUMERIC_LABEL.match(label) for label in labels
    )


@dataclass(frozen=True)
class AddressPolicy:
    """Which hosts may be reached: public addresses, plus the hosts an admin allowed."""

    allowed_hosts: frozenset[str] = frozenset()
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_setting(cls, hosts: Iterable[str], resolver: Resolver | None = None) -> AddressPolicy:
        """A policy from the SWITCHBOARD_TOOLKIT_ALLOWED_HOSTS entries (`host` or `host:port`)."""
        allowed = frozenset(h.strip().lower() for h in hosts if h.strip())
        return cls(allowed, resolver or system_resolver)

    def allows_host(self, host: str, port: int) -> bool:
        """Whether an admin allowed this host (on any port, or on this port)."""
        host = host.lower().strip("[]")
        shown = f"[{host}]" if ":" in host else host
        return host in self.allowed_hosts or f"{shown}:{port}" in self.allowed_hosts

    async def vet(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for a host, each checked.

        Raises:
            UnsafeUrl: the host does not resolve, or resolves to an address that is not public.
        """
        host = host.strip("[]").rstrip(".").lower()
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self.resolver(host, port)
            except OSError as exc:
                raise UnsafeUrl("The URL's host name does not resolve.", host=host) from exc
        if not addresses:
            raise UnsafeUrl("The URL's host name does not resolve.", host=host)
        if self.allows_host(host, port):
            return addresses
        for address in addresses:
            if not is_public(ipaddress.ip_address(address.split("%")[0])):
                raise UnsafeUrl(host=host)
        return addresses

    async def check_url(self, url: str) -> Endpoint:
        """Check a URL as on save and before every connection.

        Raises:
            UnsafeUrl: the URL or an address its host resolves to is not allowed.
        """
        endpoint = parse(url)
        await self.vet(endpoint.host, endpoint.port)
        return endpoint


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """A network backend that vets every TCP connection and connects to the vetted address."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        addresses = await self._policy.vet(host, port)
        return await self._inner.connect_tcp(
            addresses[0], port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise UnsafeUrl("Unix sockets are not allowed.")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
