"""Where model providers may point: anywhere but link-local and cloud metadata addresses.

Loopback and private addresses stay allowed (Ollama, vLLM and LM Studio usually live there); what
is refused is 169.254.0.0/16, fe80::/10, AWS's fd00:ec2::254 and the metadata service names, where
a cloud machine hands its credentials to whoever asks. An operator allows a host anyway with
SWITCHBOARD_PROVIDER_ALLOWED_HOSTS (`host` or `host:port`).

The address is checked when an admin saves a provider (its name resolved), when the catalog is
loaded (models.yaml's `api_base` as written, environment references read) and before every model
call (names resolved again, the answer kept `cache_seconds`), because a name can later resolve
somewhere else.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from core.addresses import (
    Resolver,
    is_metadata,
    is_metadata_name,
    parse_address,
    system_resolver,
)
from core.catalog import ENV_PREFIX, Catalog, CatalogModel
from core.errors import InvalidCatalog, InvalidInput

SETTING = "SWITCHBOARD_PROVIDER_ALLOWED_HOSTS"


class ProviderAddressBlocked(InvalidInput):
    """That provider address is link-local or a cloud metadata service; an operator can allow
    its host with SWITCHBOARD_PROVIDER_ALLOWED_HOSTS."""

    code = "provider_address_blocked"


def api_base_of(params: Mapping[str, Any]) -> str | None:
    """A deployment's `api_base`, an `os.environ/NAME` reference read from the environment."""
    base = params.get("api_base")
    if isinstance(base, str) and base.startswith(ENV_PREFIX):
        base = os.environ.get(base.removeprefix(ENV_PREFIX))
    return base if isinstance(base, str) and base else None


@functools.lru_cache(maxsize=1024)
def _written(url: str) -> tuple[str, int, str | None]:
    """The host and port of a URL, and the address its host is written as (numeric forms such
    as `2852039166` read as the system reads them), or None for a name to resolve."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # not a URL (an unclosed IPv6 literal): nothing can be reached through it
        return "", 0, None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 0
    host = (parts.hostname or "").rstrip(".")
    literal = parse_address(host)
    if literal is None and host:
        try:
            infos = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
        except (OSError, UnicodeError):
            infos = []
        literal = parse_address(str(infos[0][4][0])) if infos else None
    return host, port, str(literal) if literal is not None else None


class ProviderHosts:
    """The guard on provider addresses, with the hosts an operator allowed."""

    def __init__(
        self,
        allowed_hosts: Iterable[str] = (),
        *,
        resolver: Resolver = system_resolver,
        cache_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowed_hosts = frozenset(h.strip().lower() for h in allowed_hosts if h.strip())
        self._resolver = resolver
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._resolved: dict[tuple[str, int], tuple[float, list[str]]] = {}

    def allows_host(self, host: str, port: int) -> bool:
        """Whether an operator allowed this host (on any port, or on this port)."""
        host = host.lower().strip("[]")
        shown = f"[{host}]" if ":" in host else host
        return host in self.allowed_hosts or f"{shown}:{port}" in self.allowed_hosts

    def check_written(self, url: str) -> tuple[str, int] | None:
        """Check a URL as written, without DNS; returns the (host, port) still to resolve.

        Raises:
            ProviderAddressBlocked: the host is a link-local or metadata address or name.
        """
        host, port, literal = _written(url)
        if not host or self.allows_host(host, port):
            return None
        address = parse_address(literal) if literal is not None else None
        if is_metadata_name(host) or (address is not None and is_metadata(address)):
            raise _blocked(url, host)
        return (host, port) if literal is None else None

    async def check(self, url: str, *, fresh: bool = True) -> None:
        """Check a URL, resolving its host name (from the short cache unless `fresh`).

        A name that does not resolve passes: nothing can be reached through it.

        Raises:
            ProviderAddressBlocked: the host is, or resolves to, a link-local or metadata address.
        """
        name = self.check_written(url)
        if name is None:
            return
        cached = None if fresh else self._resolved.get(name)
        if cached is not None and cached[0] > self._clock():
            addresses = cached[1]
        else:
            try:
                addresses = await self._resolver(*name)
            except OSError:
                addresses = []
            self._resolved[name] = (self._clock() + self._cache_seconds, addresses)
        self._refuse_metadata(url, name[0], addresses)

    def check_sync(self, url: str) -> None:
        """`check` for a worker thread, with the system resolver, uncached.

        Raises:
            ProviderAddressBlocked: the host is, or resolves to, a link-local or metadata address.
        """
        name = self.check_written(url)
        if name is None:
            return
        try:
            infos = socket.getaddrinfo(*name, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return
        self._refuse_metadata(url, name[0], [str(info[4][0]) for info in infos])

    async def check_model(self, model: CatalogModel, catalog: Catalog) -> None:
        """Check every deployment a call to `model` may reach, its fallbacks' included.

        Raises:
            ProviderAddressBlocked: one of them points at a link-local or metadata address.
        """
        for base in _bases(model, catalog):
            await self.check(base, fresh=False)

    def check_catalog(self, catalog: Catalog) -> None:
        """Check models.yaml's deployments as written (no DNS: names are checked per call).

        Raises:
            InvalidCatalog: a deployment's api_base is a link-local or metadata address.
        """
        for model in catalog.models.values():
            for deployment in model.deployments:
                base = api_base_of(deployment.litellm_params)
                try:
                    if base:
                        self.check_written(base)
                except ProviderAddressBlocked as exc:
                    raise InvalidCatalog(
                        f"Model {model.name!r}: {exc.message}", model=model.name
                    ) from None

    def _refuse_metadata(self, url: str, host: str, addresses: list[str]) -> None:
        for address in addresses:
            parsed = parse_address(address)
            if parsed is not None and is_metadata(parsed):
                raise _blocked(url, host)


def _bases(model: CatalogModel, catalog: Catalog) -> list[str]:
    """The api_base of each deployment of a model and of the models it falls back to."""
    names = {model.name}
    for key in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
        for entry in catalog.router_settings.get(key) or ():
            if isinstance(entry, Mapping):
                names.update(str(n) for n in entry.get(model.name) or ())
    names.update(str(n) for n in catalog.router_settings.get("default_fallbacks") or ())
    found = []
    for name in names:
        entry = catalog.models.get(name)
        for deployment in entry.deployments if entry is not None else ():
            base = api_base_of(deployment.litellm_params)
            if base:
                found.append(base)
    return found


def _blocked(url: str, host: str) -> ProviderAddressBlocked:
    return ProviderAddressBlocked(
        f"Provider address {url[:200]!r} is link-local or a cloud metadata service; "
        f"add {host!r} to {SETTING} to allow it.",
        host=host,
        setting=SETTING,
    )
