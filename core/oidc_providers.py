"""The OpenID providers people sign in with, as `SWITCHBOARD_OIDC_PROVIDERS` configures them."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.alias_generators import to_camel

DEFAULT_SCOPES = ("openid", "email", "profile")


class OidcProvider(BaseModel):
    """One OpenID provider: where it is, the client Switchboard is registered as there, and how
    its users' groups map to Switchboard's admin role and teams."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    # In the callback URL: /api/auth/oidc/<name>/callback
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    display_name: str = Field(default="", max_length=100)
    issuer: str = Field(min_length=1, max_length=500)
    client_id: str = Field(min_length=1, max_length=500)
    client_secret: SecretStr
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    groups_claim: str = Field(default="groups", min_length=1)
    # Members of any of these groups are admins; the rest are not (empty: roles are left alone).
    admin_groups: tuple[str, ...] = ()
    # group -> team name: membership of each team named here follows the groups at every sign-in.
    team_mapping: dict[str, str] = Field(default_factory=dict)
    # E-mail domains allowed to sign in (empty: any); the address must be verified.
    allowed_domains: tuple[str, ...] = ()
    # A first sign-in whose verified e-mail matches an existing account signs in to that account.
    link_by_email: bool = False

    @property
    def label(self) -> str:
        """What the sign-in button says."""
        return self.display_name or self.name

    @field_validator("issuer")
    @classmethod
    def _secure_issuer(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value
        if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
            return value
        raise ValueError("must be an https:// URL (http:// only for localhost)")

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in value:
            raise ValueError("must include 'openid'")
        return value

    @field_validator("allowed_domains")
    @classmethod
    def _lower_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(domain.strip().lower().lstrip("@") for domain in value if domain.strip())

    @field_validator("team_mapping")
    @classmethod
    def _team_names(cls, value: dict[str, str]) -> dict[str, str]:
        for group, team in value.items():
            if not team.strip() or len(team) > 200:
                raise ValueError(f"group {group!r} maps to an empty or too long team name")
        return value


def unique_names(providers: list[OidcProvider]) -> list[OidcProvider]:
    """The providers, if no two share a name.

    Raises:
        ValueError: two providers have the same name.
    """
    seen: set[str] = set()
    for provider in providers:
        if provider.name in seen:
            raise ValueError(f"two providers are named {provider.name!r}")
        seen.add(provider.name)
    return providers


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
