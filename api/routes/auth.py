"""Logging in and out, and who the caller is."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request, Response

from api.deps import CSRF_COOKIE, SESSION_COOKIE, PrincipalDep, ServicesDep, SessionDep
from api.hal import Resource, api_router, resource
from api.responses import LoggedIn, Me
from billing import seats
from billing.schemas import SeatRead
from core import login_sessions, logins, password_login
from core.login_sessions import OpenedSession
from core.login_throttle import ThrottleLimits
from core.models import User
from core.schemas import LoginRequest, PasswordChange, UserRead
from core.settings import Settings

router = api_router(prefix="/api", tags=["Auth"])
# A browser that logged in to an account before (core.login_devices): throttled on its own.
DEVICE_COOKIE = "switchboard_device"
DEVICE_COOKIE_SECONDS = 365 * 24 * 3600


def user_body(user: User) -> Resource[UserRead]:
    """A user as a HAL resource."""
    return resource(UserRead.model_validate(user), f"/api/users/{user.id}")


@router.post("/auth/login", response_model=LoggedIn)
async def login(
    body: LoginRequest, request: Request, response: Response, services: ServicesDep
) -> LoggedIn:
    """Log in with a username and password; sets the session cookie.

    State-changing requests made with the cookie must send the returned `csrfToken` in the
    `X-CSRF-Token` header. Failed attempts slow down per account and per client address: past a
    few, the next must wait (429 `login_throttled` with `Retry-After`, growing to a few minutes).
    A browser that logged in to the account before carries a device cookie and is counted on its
    own, so others' failures do not lock it out.

    Two-factor sign-in: a user with it on also sends `code` (a current code from their
    authenticator app, or an unused recovery code). Without it the answer is 401
    `two_factor_required` (the page then asks for the code and sends all three again); a wrong or
    replayed code is 401 `invalid_two_factor_code`, throttled like a wrong password. A user who
    must use it (`SWITCHBOARD_TWO_FACTOR_REQUIRED`) but has not enrolled gets 403
    `two_factor_enrolment_required` with `details.secret` and `details.otpauthUri`; signing in
    with a code of that secret turns it on and returns `recoveryCodes`, shown this once.

    With `SWITCHBOARD_PASSWORD_LOGIN=false`, only break-glass admins may log in this way; anyone
    else gets 403 `password_login_disabled`.
    """
    settings = services.settings
    password_login.check(
        body.username,
        enabled=settings.password_login,
        admin_username=settings.admin_username,
        break_glass=settings.break_glass_users,
    )
    ttl = timedelta(hours=settings.session_ttl_hours)
    attempt = _attempt(request, body.username, body.password, body.code)
    done = await logins.log_in(
        services.sessions,
        attempt=attempt,
        limits=throttle_limits(settings),
        ttl=ttl,
        factor=_second_factor(services),
    )
    _set_session_cookies(response, done.opened, settings, ttl)
    if done.device_secret is not None:
        response.set_cookie(
            DEVICE_COOKIE,
            done.device_secret,
            max_age=DEVICE_COOKIE_SECONDS,
            path="/api",
            httponly=True,
            samesite="lax",
            secure=settings.cookie_secure,
        )
    return LoggedIn(
        user=user_body(done.user),
        csrf_token=done.opened.session.csrf_token,
        recovery_codes=list(done.recovery_codes) if done.recovery_codes else None,
    )


@router.post("/auth/logout", status_code=204)
async def logout(request: Request, _: PrincipalDep, session: SessionDep) -> Response:
    """End the session of the cookie."""
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        await login_sessions.close(session, secret=secret)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.get("/me", response_model=Me)
async def me(principal: PrincipalDep, session: SessionDep) -> Resource[UserRead]:
    """The calling user, with their teams and their AI seat (`seat`, null without one)."""
    body = user_body(principal.user)
    body["teamIds"] = list(principal.team_ids)
    body["authenticatedBy"] = "apiToken" if principal.api_token else "session"
    seat = await seats.seat_of(session, user_id=principal.user.id)
    body["seat"] = (
        SeatRead.model_validate(seat).model_dump(mode="json", by_alias=True) if seat else None
    )
    return body


@router.post("/me/password", response_model=LoggedIn)
async def change_password(
    body: PasswordChange,
    request: Request,
    response: Response,
    principal: PrincipalDep,
    services: ServicesDep,
) -> LoggedIn:
    """Change your own password, giving the current one (checked and throttled as a login is:
    403 `wrong_current_password`, 429 `login_throttled`; the new one must meet the password
    policy, 422 `password_too_short` / `password_too_common` / `password_has_control_characters`).

    Every session of yours ends and, unless `keepApiTokens` is true, every API token of yours is
    revoked, the one making this call included. Called with the session cookie, the caller gets a
    new session at once: the response sets its cookie and returns its `csrfToken` (null when
    called with an API token).
    """
    settings = services.settings
    ttl = timedelta(hours=settings.session_ttl_hours)
    user = principal.user
    opened = await logins.change_own_password(
        services.sessions,
        attempt=_attempt(request, user.username, body.current_password),
        new_password=body.new_password,
        keep_api_tokens=body.keep_api_tokens,
        limits=throttle_limits(settings),
        reissue_ttl=None if principal.api_token is not None else ttl,
    )
    if opened is not None:
        _set_session_cookies(response, opened, settings, ttl)
    csrf_token = opened.session.csrf_token if opened else None
    return LoggedIn(user=user_body(user), csrf_token=csrf_token)


def throttle_limits(settings: Settings) -> ThrottleLimits:
    """The login throttle's limits from settings."""
    return ThrottleLimits(
        free_attempts=settings.login_free_attempts,
        free_attempts_per_address=settings.login_free_attempts_per_address,
        max_delay_seconds=settings.login_max_delay_seconds,
    )


def _attempt(
    request: Request, username: str, password: str, code: str | None = None
) -> logins.Attempt:
    address = request.client.host if request.client else "unknown"
    device = request.cookies.get(DEVICE_COOKIE)
    return logins.Attempt(username, password, address, device, code)


def _second_factor(services: ServicesDep) -> logins.SecondFactor:
    """Two-factor sign-in's setting and the sealer of TOTP secrets (the provider key's)."""
    return logins.SecondFactor(
        requirement=services.settings.two_factor_required, sealer=services.catalog_sync.sealer
    )


def _set_session_cookies(
    response: Response, opened: OpenedSession, settings: Settings, ttl: timedelta
) -> None:
    secure = settings.cookie_secure
    max_age = int(ttl.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, opened.secret, max_age=max_age, httponly=True, samesite="lax", secure=secure
    )
    response.set_cookie(
        CSRF_COOKIE, opened.session.csrf_token, max_age=max_age, samesite="lax", secure=secure
    )
