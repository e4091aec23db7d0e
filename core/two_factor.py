"""Two-factor sign-in for local accounts: an authenticator app's codes (TOTP, RFC 6238, through
pyotp) and single-use recovery codes.

The TOTP secret is sealed at rest (`core.sealing`, bound to the user id). A code is good for the
time-step it belongs to and one step either side (clock drift), and only once: the last
accepted step is kept and a conditional update refuses any step not after it, so two requests
racing with one code cannot both pass. Recovery codes are random, shown once and stored as
hashes; each is spent by a conditional update too.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

import pyotp
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, clock
from core.api_tokens import digest
from core.errors import Conflict, NotFound, PermissionDenied, Unauthenticated
from core.models import RecoveryCode, TwoFactor, User
from core.sealing import Sealer

Requirement = Literal["off", "admins", "everyone"]
Method = Literal["totp", "recovery_code"]
ISSUER = "Switchboard"
RECOVERY_CODES = 10
DRIFT_STEPS = 1  # codes of the step before and after the current one are accepted too
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


class TwoFactorRequired(Unauthenticated):
    """Enter the code from your authenticator app (or a recovery code) to sign in."""

    code = "two_factor_required"


class InvalidTwoFactorCode(Unauthenticated):
    """That code is wrong, expired or already used; enter the current code from your app."""

    code = "invalid_two_factor_code"


class EnrolmentRequired(PermissionDenied):
    """Two-factor sign-in is required for your account: add Switchboard to an authenticator app
    with the secret given, then sign in again with its code."""

    code = "two_factor_enrolment_required"


class AlreadyEnabled(Conflict):
    """Two-factor sign-in is already on; turn it off first to enrol a new authenticator."""

    code = "two_factor_already_enabled"


class NotEnrolling(NotFound):
    """There is no enrolment to confirm; start one first."""

    code = "two_factor_not_enrolling"


class NotEnabled(NotFound):
    """Two-factor sign-in is not on for your account."""

    code = "two_factor_not_enabled"


@dataclass(frozen=True)
class Enrolment:
    """A new authenticator secret, as text and as the otpauth:// URI apps read (as a QR code)."""

    secret: str
    uri: str


def required_for(user: User, requirement: Requirement) -> bool:
    """Whether the setting `SWITCHBOARD_TWO_FACTOR_REQUIRED` makes this user use two-factor."""
    return requirement == "everyone" or (requirement == "admins" and user.is_admin)


async def state_of(session: AsyncSession, *, user_id: str) -> TwoFactor | None:
    """The user's authenticator row: None, enrolling (`confirmed_at` None) or on."""
    return await session.get(TwoFactor, user_id)


async def enabled(session: AsyncSession, *, user_id: str) -> bool:
    """Whether the user signs in with a second factor."""
    row = await state_of(session, user_id=user_id)
    return row is not None and row.confirmed_at is not None


async def recovery_codes_left(session: AsyncSession, *, user_id: str) -> int:
    """How many of the user's recovery codes are unused."""
    live = (RecoveryCode.user_id == user_id) & RecoveryCode.used_at.is_(None)
    return int(await session.scalar(select(func.count()).where(live)) or 0)


async def start_enrolment(
    session: AsyncSession, *, user: User, sealer: Sealer, keep_pending: bool = False
) -> Enrolment:
    """Make a new authenticator secret for the user, to confirm with a code (`confirm`). With
    `keep_pending`, an enrolment already started is given again instead of a new one.

    Raises:
        AlreadyEnabled: two-factor is on for the user.
    """
    row = await state_of(session, user_id=user.id)
    if row is not None and row.confirmed_at is not None:
        raise AlreadyEnabled()
    if row is not None and keep_pending:
        secret = sealer.open(row.secret_sealed, context=user.id)
    else:
        secret = pyotp.random_base32()
        sealed = sealer.seal(secret, context=user.id)
        if row is None:
            session.add(TwoFactor(user_id=user.id, secret_sealed=sealed))
        else:
            row.secret_sealed, row.last_step, row.created_at = sealed, None, clock.now()
        await session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return Enrolment(secret, uri)


async def confirm(
    session: AsyncSession, *, user: User, code: str, sealer: Sealer, actor_id: str | None = None
) -> list[str]:
    """Turn two-factor on with a code from the enrolment's secret; returns new recovery codes,
    to show once.

    Raises:
        NotEnrolling: no enrolment was started.
        AlreadyEnabled: two-factor is already on.
        InvalidTwoFactorCode: the code is not the current one.
    """
    row = await state_of(session, user_id=user.id)
    if row is None:
        raise NotEnrolling()
    if row.confirmed_at is not None:
        raise AlreadyEnabled()
    if not await _spend_totp(session, row, code, sealer):
        raise InvalidTwoFactorCode()
    row.confirmed_at = clock.now()
    codes = await _new_recovery_codes(session, user_id=user.id)
    await _audit(session, "two_factor.enabled", user, actor_id or user.id)
    return codes


async def check_code(session: AsyncSession, *, user: User, code: str, sealer: Sealer) -> Method:
    """Accept a sign-in's second factor: a current TOTP code not used before, or an unused
    recovery code (spent by this). Returns which it was.

    Raises:
        NotEnabled: the user has no confirmed authenticator.
        InvalidTwoFactorCode: the code is wrong, replayed or spent.
    """
    row = await state_of(session, user_id=user.id)
    if row is None or row.confirmed_at is None:
        raise NotEnabled()
    if await _spend_totp(session, row, code, sealer):
        return "totp"
    if await _spend_recovery_code(session, user_id=user.id, code=code):
        return "recovery_code"
    raise InvalidTwoFactorCode()


async def regenerate_recovery_codes(session: AsyncSession, *, user: User) -> list[str]:
    """Replace the user's recovery codes with new ones (the old stop working).

    Raises:
        NotEnabled: two-factor is not on for the user.
    """
    if not await enabled(session, user_id=user.id):
        raise NotEnabled()
    codes = await _new_recovery_codes(session, user_id=user.id)
    await _audit(session, "two_factor.recovery_codes_replaced", user, user.id)
    return codes


async def disable(session: AsyncSession, *, user: User, actor_id: str | None = None) -> None:
    """Turn two-factor off for the user (and drop an enrolment in progress).

    Raises:
        NotEnabled: two-factor is neither on nor being enrolled.
    """
    row = await state_of(session, user_id=user.id)
    if row is None:
        raise NotEnabled()
    was_on = row.confirmed_at is not None
    await session.delete(row)
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await session.flush()
    if was_on:
        await _audit(session, "two_factor.disabled", user, actor_id or user.id)


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


async def _spend_totp(session: AsyncSession, row: TwoFactor, code: str, sealer: Sealer) -> bool:
    """Whether `code` is the TOTP of a step near now that is after the last one accepted; if
    so, that step is recorded (atomically) as the last accepted."""
    digits = _normalise(code)
    if len(digits) != 6 or not digits.isdigit():
        return False
    totp = pyotp.TOTP(sealer.open(row.secret_sealed, context=row.user_id))
    now = totp.timecode(clock.now())
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            fresh = (TwoFactor.last_step.is_(None)) | (TwoFactor.last_step < step)
            result = await session.execute(
                update(TwoFactor)
                .where(TwoFactor.user_id == row.user_id, fresh)
                .values(last_step=step)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 1:
                row.last_step = step
                return True
            return False  # this step (or a later one) was used already: a replay
    return False


async def _spend_recovery_code(session: AsyncSession, *, user_id: str, code: str) -> bool:
    result = await session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == digest(_normalise(code)),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def _new_recovery_codes(session: AsyncSession, *, user_id: str) -> list[str]:
    """Replace a user's recovery codes: 10 random `xxxxx-xxxxx` codes (about 49 bits each,
    stored as SHA-256 like API tokens)."""
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(user_id=user_id, code_hash=digest(_normalise(c))) for c in codes)
    await session.flush()
    return codes


def _recovery_code() -> str:
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{chars[:5]}-{chars[5:]}"


async def _audit(session: AsyncSession, kind: str, user: User, actor_id: str) -> None:
    await audit.record(
        session,
        kind=kind,
        actor_id=actor_id,
        subject_type="user",
        subject_id=user.id,
        details={"username": user.username},
    )
