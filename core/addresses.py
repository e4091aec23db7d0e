"""What kind of network address an IP is: public, or one Switchboard must be careful to reach.

Shared by the toolkit SSRF guard (`toolkits.ssrf`, public addresses only) and the provider guard
(`core.provider_hosts`, anything but link-local and cloud metadata addresses).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable

import anyio

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
# Ranges that embed an IPv4 address in IPv6 (NAT64 and 6to4) are judged by the address inside.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_LINK_LOCAL = ipaddress.ip_network("169.254.0.0/16")
_IPV6_LINK_LOCAL = ipaddress.ip_network("fe80::/10")
# AWS's instance metadata service over IPv6 (Nitro); it sits in the unique-local range.
_AWS_IPV6_METADATA = ipaddress.IPv6Address("fd00:ec2::254")
# Names cloud platforms give their metadata services (GCP, AWS, Oracle's alias, Alibaba's).
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for a name.

    Raises:
        OSError: the name does not resolve, or is not a name a resolver could look up.
    """
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # not valid IDNA: no resolver could find it
        raise socket.gaierror(socket.EAI_NONAME, "not a valid host name") from exc
    return [str(info[4][0]) for info in infos]


def parse_address(text: str) -> IPAddress | None:
    """The IP address a host is written as (brackets and a zone id dropped), or None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64, Teredo), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    embedded = address.ipv4_mapped or address.sixtofour
    if embedded is None and address in _NAT64:
        embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if embedded is None and address.teredo is not None:
        embedded = address.teredo[1]
    return embedded


def is_public(address: IPAddress) -> bool:
    """Whether an address is globally routable (not private, loopback, link-local, metadata...)."""
    embedded = embedded_ipv4(address)
    if embedded is not None:
        return is_public(embedded)
    return address.is_global and not address.is_multicast and not address.is_reserved


def is_metadata(address: IPAddress) -> bool:
    """Whether an address is link-local or a cloud metadata service (169.254.169.254 and kin).

    Such addresses hand out a cloud machine's credentials to whoever asks from inside it.
    """
    embedded = embedded_ipv4(address)
    if embedded is not None:
        return is_metadata(embedded)
    if isinstance(address, ipaddress.IPv4Address):
        return address in _IPV4_LINK_LOCAL
    return address in _IPV6_LINK_LOCAL or address == _AWS_IPV6_METADATA


def is_metadata_name(host: str) -> bool:
    """Whether a host name is one cloud platforms give their metadata service."""
    return host.strip("[]").rstrip(".").lower() in METADATA_NAMES
