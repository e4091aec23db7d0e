"""OpenID Connect sign-in as a relying party, with Authlib (the OAuth client) and joserfc (the
ID token): the provider's discovery document and keys (cached), the authorization request
(state, nonce, PKCE S256) and the callback (code exchange, ID token verification).

The sign-in under way travels in the browser as a sealed value (`Pending`, AES-GCM under the
provider secret key): the callback opens it from the cookie of the browser that started the
sign-in, so a state or code carried to another browser finds nothing to match.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError  # type: ignore[import-untyped]
from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError, MissingClaimError
from joserfc.jwk import KeySet

from core.errors import NotFound, Unauthenticated, Unavailable
from core.identities import ExternalAccount
from core.oidc_providers import OidcProvider
from core.sealing import Cipher, Unopenable

PENDING_SECONDS = 600  # how long a started sign-in may take at the provider
CACHE_SECONDS = 3600.0  # discovery documents and keys are read again after this
LEEWAY_SECONDS = 60  # clock skew allowed on exp / iat
_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
_CONTEXT = b"switchboard oidc sign-in"


class OidcProviderNotFound(NotFound):
    """No sign-in provider has that name."""

    code = "oidc_provider_not_found"


class OidcProviderUnavailable(Unavailable):
    """The identity provider could not be reached or answered something unusable; try again."""

    code = "oidc_provider_unavailable"


class OidcStateMismatch(Unauthenticated):
    """This sign-in was started in another browser, or too long ago; start it again."""

    code = "oidc_state_mismatch"


class OidcProviderRefused(Unauthenticated):
    """The identity provider did not sign you in."""

    code = "oidc_provider_refused"


class OidcCodeRejected(Unauthenticated):
    """The identity provider refused the sign-in code (used already, or expired); start again."""

    code = "oidc_code_rejected"


class OidcTokenInvalid(Unauthenticated):
    """The identity provider's ID token failed verification; the sign-in was refused."""

    code = "oidc_token_invalid"


@dataclass(frozen=True)
class Pending:
    """A sign-in under way: what the callback checks the provider's answer against."""

    provider: str
    state: str
    nonce: str
    verifier: str
    redirect_uri: str
    expires_at: float


@dataclass(frozen=True)
class Discovery:
    """What Switchboard uses of a provider's discovery document."""

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    algorithms: tuple[str, ...]


class OidcClients:
    """The configured providers, their cached discovery documents and keys, and the two halves
    of a sign-in: `begin` (to the provider) and `finish` (back from it)."""

    def __init__(
        self, providers: Sequence[OidcProvider], key: bytes, *, timeout: float = 10.0
    ) -> None:
        self.providers = {provider.name: provider for provider in providers}
        self._cipher = Cipher(key)
        self._timeout = timeout
        self._discovery: dict[str, tuple[Discovery, float]] = {}
        self._keys: dict[str, tuple[KeySet, float]] = {}

    def get(self, name: str) -> OidcProvider:
        """A provider by name.

        Raises:
            OidcProviderNotFound: none has that name.
        """
        provider = self.providers.get(name)
        if provider is None:
            raise OidcProviderNotFound(provider=name)
        return provider

    async def begin(
        self, name: str, *, redirect_uri: str, login_hint: str | None = None
    ) -> tuple[str, str]:
        """The provider's authorization URL for a new sign-in, and the sealed `Pending` the
        browser keeps until the callback.

        Raises:
            OidcProviderNotFound: no provider has that name.
            OidcProviderUnavailable: its discovery document cannot be read.
        """
        provider = self.get(name)
        discovery = await self.discover(provider)
        pending = Pending(
            provider=name,
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),
            redirect_uri=redirect_uri,
            expires_at=time.time() + PENDING_SECONDS,
        )
        extra = {"login_hint": login_hint} if login_hint else {}
        async with self._client(provider, redirect_uri) as client:
            url, _ = client.create_authorization_url(
                discovery.authorization_endpoint,
                state=pending.state,
                code_verifier=pending.verifier,
                nonce=pending.nonce,
                **extra,
            )
        return str(url), self._seal(pending)

    async def finish(
        self, name: str, *, sealed: str | None, params: dict[str, str]
    ) -> ExternalAccount:
        """Check the provider's answer (`params`: the callback's query) against the sign-in the
        browser started, exchange the code and verify the ID token.

        Raises:
            OidcProviderNotFound: no provider has that name.
            OidcStateMismatch: no sign-in under way in this browser matches the answer.
            OidcProviderRefused: the provider answered with an error instead of a code.
            OidcCodeRejected: the provider refused the code.
            OidcTokenInvalid: the ID token failed verification.
            OidcProviderUnavailable: the provider could not be reached.
        """
        provider = self.get(name)
        pending = self._open(sealed, name)
        if not secrets.compare_digest(params.get("state", ""), pending.state):
            raise OidcStateMismatch()
        if "error" in params or not params.get("code"):
            error = params.get("error", "no_code")
            raise OidcProviderRefused(
                f"The identity provider did not sign you in ({error}).", error=error
            )
        discovery = await self.discover(provider)
        token = await self._exchange(provider, discovery, pending, params["code"])
        claims = await self._verify(provider, discovery, token, pending.nonce)
        return _account(provider, claims)

    async def discover(self, provider: OidcProvider) -> Discovery:
        """The provider's discovery document (cached for an hour).

        Raises:
            OidcProviderUnavailable: it cannot be read, or names another issuer.
        """
        cached = self._discovery.get(provider.name)
        if cached is not None and time.monotonic() - cached[1] < CACHE_SECONDS:
            return cached[0]
        url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await self._get_json(url)
        if document.get("issuer") != provider.issuer:
            raise OidcProviderUnavailable(
                "The provider's discovery document names another issuer.", provider=provider.name
            )
        try:
            supported = document.get("id_token_signing_alg_values_supported") or ["RS256"]
            discovery = Discovery(
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                jwks_uri=str(document["jwks_uri"]),
                userinfo_endpoint=document.get("userinfo_endpoint"),
                algorithms=tuple(a for a in supported if a in _ALGORITHMS) or ("RS256",),
            )
        except (KeyError, TypeError):
            raise OidcProviderUnavailable(
                "The provider's discovery document lacks an endpoint.", provider=provider.name
            ) from None
        self._discovery[provider.name] = (discovery, time.monotonic())
        return discovery

    def _client(self, provider: OidcProvider, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=provider.client_id,
            client_secret=provider.client_secret.get_secret_value(),
            scope=" ".join(provider.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self._timeout,
        )

    def _seal(self, pending: Pending) -> str:
        plain = json.dumps(asdict(pending)).encode()
        return self._cipher.seal(plain, context=_CONTEXT).hex()

    def _open(self, sealed: str | None, name: str) -> Pending:
        try:
            plain = self._cipher.open(bytes.fromhex(sealed or ""), context=_CONTEXT)
            pending = Pending(**json.loads(plain))
        except (Unopenable, ValueError, TypeError):
            raise OidcStateMismatch() from None
        if pending.provider != name or pending.expires_at < time.time():
            raise OidcStateMismatch()
        return pending

    async def _exchange(
        self, provider: OidcProvider, discovery: Discovery, pending: Pending, code: str
    ) -> dict[str, Any]:
        try:
            async with self._client(provider, pending.redirect_uri) as client:
                token: dict[str, Any] = await client.fetch_token(
                    discovery.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.verifier,
                )
        except AuthlibBaseError as exc:
            raise OidcCodeRejected(error=str(exc.error), description=exc.description) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcProviderUnavailable(provider=provider.name, reason=str(exc)) from None
        return token

    async def _verify(
        self, provider: OidcProvider, discovery: Discovery, token: dict[str, Any], nonce: str
    ) -> dict[str, Any]:
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcTokenInvalid("The identity provider sent no ID token.", reason="missing")
        claims = await self._decode(provider, discovery, id_token)
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise OidcTokenInvalid("The ID token has expired.", reason="expired") from None
        except MissingClaimError as exc:
            raise OidcTokenInvalid(f"The ID token lacks {exc.claim}.", reason="missing") from None
        except JoseError as exc:
            claim = getattr(exc, "claim", "a claim")
            raise OidcTokenInvalid(f"The ID token's {claim} is wrong.", reason=claim) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != provider.client_id:
            raise OidcTokenInvalid("The ID token was issued to another client.", reason="azp")
        return await self._with_userinfo(provider, discovery, token, claims)

    async def _decode(
        self, provider: OidcProvider, discovery: Discovery, id_token: str
    ) -> dict[str, Any]:
        for refresh in (False, True):  # a key the provider rotated in: read its keys again
            keys = await self._key_set(provider, discovery, refresh=refresh)
            try:
                return jwt.decode(id_token, keys, algorithms=list(discovery.algorithms)).claims
            except InvalidKeyIdError:
                continue
            except (JoseError, ValueError):
                break
        raise OidcTokenInvalid("The ID token's signature does not verify.", reason="signature")

    async def _key_set(
        self, provider: OidcProvider, discovery: Discovery, *, refresh: bool
    ) -> KeySet:
        cached = self._keys.get(provider.name)
        if not refresh and cached is not None and time.monotonic() - cached[1] < CACHE_SECONDS:
            return cached[0]
        document = await self._get_json(discovery.jwks_uri)
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError):
            raise OidcProviderUnavailable(
                "The provider's signing keys cannot be read.", provider=provider.name
            ) from None
        self._keys[provider.name] = (keys, time.monotonic())
        return keys

    async def _with_userinfo(
        self,
        provider: OidcProvider,
        discovery: Discovery,
        token: dict[str, Any],
        claims: dict[str, Any],
    ) -> dict[str, Any]:
        """The ID token's claims, completed from the userinfo endpoint when it lacks the
        e-mail or the groups (some providers put them only there)."""
        complete = "email" in claims and provider.groups_claim in claims
        access = token.get("access_token")
        if complete or not discovery.userinfo_endpoint or not isinstance(access, str):
            return claims
        info = await self._get_json(
            discovery.userinfo_endpoint, headers={"Authorization": f"Bearer {access}"}
        )
        if info.get("sub") != claims["sub"]:
            raise OidcTokenInvalid("The userinfo answer is for another account.", reason="sub")
        return {**info, **claims}

    async def _get_json(self, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.get(url, headers=headers)
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcProviderUnavailable(url=url, reason=str(exc)) from None
        if not isinstance(document, dict):
            raise OidcProviderUnavailable("The provider answered with no JSON object.", url=url)
        return document


def _account(provider: OidcProvider, claims: dict[str, Any]) -> ExternalAccount:
    groups = claims.get(provider.groups_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    verified = claims.get("email_verified")
    email = claims.get("email")
    return ExternalAccount(
        subject=str(claims["sub"]),
        email=email if isinstance(email, str) and email else None,
        email_verified=verified is True or verified == "true",
        name=str(claims.get("name") or ""),
        preferred_username=str(claims.get("preferred_username") or ""),
        groups=tuple(str(group) for group in groups if isinstance(group, str | int)),
    )
