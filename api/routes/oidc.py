"""Signing in with an organisation's OpenID provider (`core.oidc` speaks to the provider,
`core.identities` finds or makes the user); the session that follows is the one a password
login opens."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import Query, Request, Response
from fastapi.responses import RedirectResponse

from api.deps import ServicesDep
from api.hal import api_router
from api.public_url import request_url
from api.responses import SignInOptions, SignInProvider
from api.routes.auth import _set_session_cookies
from api.services import Services
from core import audit, audit_refusals, identities, login_sessions
from core.database import write_transaction
from core.errors import SwitchboardError
from core.oidc import PENDING_SECONDS, OidcProviderNotFound

log = logging.getLogger(__name__)
router = api_router(prefix="/api/auth", tags=["Auth"])
# The sign-in under way (state, nonce, PKCE verifier), sealed; sent back only to the callback.
PENDING_COOKIE = "switchboard_oidc"
PENDING_PATH = "/api/auth/oidc"
_LOCATION: dict[str, Any] = {
    "Location": {"description": "Where the browser goes next", "schema": {"type": "string"}}
}
TO_PROVIDER: dict[int | str, dict[str, Any]] = {
    302: {"description": "To the identity provider", "headers": _LOCATION}
}
TO_PAGE: dict[int | str, dict[str, Any]] = {
    302: {"description": "To the page, signed in or with ?signInError=", "headers": _LOCATION}
}


@router.get("/providers", response_model=SignInOptions)
async def sign_in_options(services: ServicesDep) -> SignInOptions:
    """How one may sign in here, for the sign-in page (no login needed): whether password
    sign-in is on (when off, only break-glass admins may use it) and each OpenID provider's
    name, label and the URL that starts signing in with it."""
    providers = [
        SignInProvider(
            name=provider.name,
            display_name=provider.label,
            login_url=f"{PENDING_PATH}/{provider.name}/login",
        )
        for provider in services.oidc.providers.values()
    ]
    return SignInOptions(password_login=services.settings.password_login, providers=providers)


@router.get(
    "/oidc/{name}/login", response_class=RedirectResponse, status_code=302, responses=TO_PROVIDER
)
async def oidc_login(
    name: str,
    request: Request,
    services: ServicesDep,
    login_hint: str | None = Query(default=None, max_length=320),
) -> Response:
    """Start signing in with an OpenID provider: redirects (302) to it with `state`, `nonce` and
    a PKCE S256 challenge (`login_hint` is passed on). A short-lived cookie binds the sign-in to
    this browser. 404 `oidc_provider_not_found` for an unknown provider; one that cannot be
    reached sends the browser back to the page with `?signInError=oidc_provider_unavailable`."""
    try:
        url, sealed = await services.oidc.begin(
            name, redirect_uri=_callback_url(request, services, name), login_hint=login_hint
        )
    except OidcProviderNotFound:
        raise
    except SwitchboardError as error:
        return await _refused(services, name, error)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        PENDING_COOKIE,
        sealed,
        max_age=PENDING_SECONDS,
        path=PENDING_PATH,
        httponly=True,
        samesite="lax",
        secure=services.settings.cookie_secure,
    )
    return response


@router.get(
    "/oidc/{name}/callback", response_class=RedirectResponse, status_code=302, responses=TO_PAGE
)
async def oidc_callback(name: str, request: Request, services: ServicesDep) -> Response:
    """Where the provider sends the browser back: checks `state` against this browser's sign-in,
    exchanges the code, verifies the ID token (signature by the provider's keys, issuer,
    audience, `azp`, nonce, expiry), finds or makes the user (teams and admin role follow the
    groups claim), opens the usual session and redirects (302) to the page.

    A refused sign-in creates nothing and redirects to the page with `?signInError=<code>`:
    `oidc_state_mismatch`, `oidc_provider_refused`, `oidc_code_rejected`, `oidc_token_invalid`,
    `oidc_domain_not_allowed`, `oidc_email_not_verified`, `oidc_account_exists`,
    `account_deactivated` or `oidc_provider_unavailable`; each is in the audit log.
    """
    wanted = ("code", "state", "error")
    params = {key: value for key, value in request.query_params.items() if key in wanted}
    settings = services.settings
    ttl = timedelta(hours=settings.session_ttl_hours)
    try:
        account = await services.oidc.finish(
            name, sealed=request.cookies.get(PENDING_COOKIE), params=params
        )
        provider = services.oidc.get(name)
        async with write_transaction(services.sessions) as session:
            user = await identities.sign_in(session, provider=provider, account=account)
            opened = await login_sessions.open_session(session, user=user, ttl=ttl)
            await audit.record(
                session,
                kind="sign_in.succeeded",
                actor_id=user.id,
                subject_type="user",
                subject_id=user.id,
                details={"method": "oidc", "provider": name, "subject": account.subject},
            )
    except OidcProviderNotFound:
        raise
    except SwitchboardError as error:
        return await _refused(services, name, error)
    response = RedirectResponse("/#/chat", status_code=302)
    _set_session_cookies(response, opened, settings, ttl)
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)
    return response


def _callback_url(request: Request, services: Services, name: str) -> str:
    return f"{request_url(request.scope, services.settings)}{PENDING_PATH}/{name}/callback"


async def _refused(services: Services, name: str, error: SwitchboardError) -> Response:
    """Back to the page's sign-in with the error's code, recorded in the audit log."""
    log.warning("OpenID sign-in with %r refused: %s (%s)", name, error.code, error.message)
    await audit_refusals.record(
        services.sessions,
        kind="sign_in.failed",
        reason=f"{error.code}:{error.details.get('reason', '')}",
        about=name,
        subject_type="oidc_provider",
        subject_id=name,
        details={
            "method": "oidc",
            "provider": name,
            "error": error.code,
            "message": error.message,
            **error.details,
        },
    )
    response = RedirectResponse(f"/?signInError={quote(error.code)}#/login", status_code=302)
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)
    return response
