"""Two-factor sign-in: enrolling an authenticator app, recovery codes, turning it off; an admin's
reset for someone who lost their device. Signing in with a code is `POST /api/auth/login`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response

from api.deps import AdminUser, CurrentUser, ServicesDep, SessionDep
from api.hal import Wire, api_router
from api.routes.auth import throttle_limits
from core import logins, two_factor, users
from core.errors import InvalidInput, PermissionDenied
from core.schemas import TwoFactorCode, TwoFactorOff

router = api_router(prefix="/api/users", tags=["Two-factor sign-in"])


class RequiredByPolicy(PermissionDenied):
    """Two-factor sign-in is required for your account; an admin can reset it instead."""

    code = "two_factor_required_by_policy"


class TwoFactorStatus(Wire):
    """Whether two-factor sign-in is on, being enrolled or required, and recovery codes left."""

    enabled: bool
    enrolling: bool
    required: bool
    recovery_codes_left: int


class TwoFactorEnrolment(Wire):
    """A new authenticator secret: type `secret` into the app, or open `otpauthUri` (what a QR
    code holds); then confirm with a code."""

    secret: str
    otpauth_uri: str


class RecoveryCodes(Wire):
    """Single-use codes that stand in for the app's code; shown this once."""

    recovery_codes: list[str]


async def _status(session: SessionDep, user: CurrentUser, services: ServicesDep) -> TwoFactorStatus:
    row = await two_factor.state_of(session, user_id=user.id)
    return TwoFactorStatus(
        enabled=row is not None and row.confirmed_at is not None,
        enrolling=row is not None and row.confirmed_at is None,
        required=two_factor.required_for(user, services.settings.two_factor_required),
        recovery_codes_left=await two_factor.recovery_codes_left(session, user_id=user.id),
    )


StatusDep = Annotated[TwoFactorStatus, Depends(_status)]


@router.get("/me/two-factor", response_model=TwoFactorStatus)
async def two_factor_status(status: StatusDep) -> TwoFactorStatus:
    """Your two-factor sign-in: `enabled`, `enrolling` (started, not confirmed), `required` (by
    `SWITCHBOARD_TWO_FACTOR_REQUIRED`) and `recoveryCodesLeft`."""
    return status


@router.post("/me/two-factor/_enrol", response_model=TwoFactorEnrolment)
async def enrol_two_factor(
    user: CurrentUser, session: SessionDep, services: ServicesDep
) -> TwoFactorEnrolment:
    """Start enrolling an authenticator app: a new secret (replacing an unconfirmed one), as
    text and as an `otpauth://` URI. Nothing changes at sign-in until `_confirm`. 409
    `two_factor_already_enabled` when it is on."""
    sealer = services.catalog_sync.sealer
    enrolment = await two_factor.start_enrolment(session, user=user, sealer=sealer)
    return TwoFactorEnrolment(secret=enrolment.secret, otpauth_uri=enrolment.uri)


@router.post("/me/two-factor/_confirm", response_model=RecoveryCodes)
async def confirm_two_factor(
    body: TwoFactorCode, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> RecoveryCodes:
    """Turn two-factor sign-in on with a current code from the app; returns 10 recovery codes,
    shown this once (401 `invalid_two_factor_code`, 404 `two_factor_not_enrolling`)."""
    sealer = services.catalog_sync.sealer
    codes = await two_factor.confirm(session, user=user, code=body.code, sealer=sealer)
    return RecoveryCodes(recovery_codes=codes)


@router.post("/me/two-factor/recovery-codes", response_model=RecoveryCodes)
async def replace_recovery_codes(
    body: TwoFactorCode, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> RecoveryCodes:
    """New recovery codes for old ones, given a current code from the app (the old codes stop
    working); shown this once."""
    sealer = services.catalog_sync.sealer
    if await two_factor.check_code(session, user=user, code=body.code, sealer=sealer) != "totp":
        raise two_factor.InvalidTwoFactorCode("Give a code from the app, not a recovery code.")
    codes = await two_factor.regenerate_recovery_codes(session, user=user)
    return RecoveryCodes(recovery_codes=codes)


@router.delete("/me/two-factor", status_code=204)
async def turn_off_two_factor(
    body: TwoFactorOff,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    services: ServicesDep,
) -> Response:
    """Turn two-factor sign-in off (or drop an enrolment), proving it is you with a current
    code, a recovery code or your password (checked and throttled as a sign-in). 403
    `two_factor_required_by_policy` when the settings require it for you."""
    settings = services.settings
    if two_factor.required_for(user, settings.two_factor_required):
        raise RequiredByPolicy()
    if body.code is not None and await two_factor.enabled(session, user_id=user.id):
        sealer = services.catalog_sync.sealer
        await two_factor.check_code(session, user=user, code=body.code, sealer=sealer)
    elif body.password is not None:
        await session.commit()  # the password check writes in transactions of its own
        address = request.client.host if request.client else "unknown"
        attempt = logins.Attempt(user.username, body.password, address)
        await logins.check_password(
            services.sessions, attempt=attempt, limits=throttle_limits(settings)
        )
    elif await two_factor.enabled(session, user_id=user.id):
        raise InvalidInput("Give a code from the app, a recovery code or your password.")
    await two_factor.disable(session, user=user)
    return Response(status_code=204)


@router.delete("/{user_id}/two-factor", status_code=204)
async def reset_two_factor(
    user_id: str, admin: AdminUser, session: SessionDep, services: ServicesDep
) -> Response:
    """Turn a user's two-factor sign-in off (admins), for someone who lost their device and
    recovery codes; if the settings require it, they enrol again at their next sign-in."""
    user = await users.get(session, user_id=user_id)
    await two_factor.disable(session, user=user, actor_id=admin.id)
    return Response(status_code=204)
