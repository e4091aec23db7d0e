"""Logging in and changing one's own password: a throttled password check, then the session.

The check reads the user and counts the attempt in one short transaction, verifies the password
off the event loop with no transaction open (Argon2 takes ~120 ms), and only then writes the
outcome, so a slow hash never holds a database lock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import (
    audit,
    audit_refusals,
    clock,
    login_devices,
    login_sessions,
    login_throttle,
    passwords,
    two_factor,
    users,
)
from core.database import write_transaction
from core.errors import InvalidCredentials, PermissionDenied, SwitchboardError
from core.login_sessions import OpenedSession
from core.login_throttle import LoginThrottled, ThrottleLimits
from core.models import User
from core.sealing import Sealer

log = logging.getLogger(__name__)


class WrongCurrentPassword(PermissionDenied):
    """The current password is wrong."""

    code = "wrong_current_password"


@dataclass(frozen=True)
class Attempt:
    """Credentials as sent, with where they came from: the client's address and the device
    cookie's secret, if any."""

    username: str
    password: str
    address: str
    device_secret: str | None = None
    code: str | None = None  # the second factor, for users who sign in with one


@dataclass(frozen=True)
class SecondFactor:
    """Two-factor sign-in's setting (who must use it) and the sealer of TOTP secrets."""

    requirement: two_factor.Requirement
    sealer: Sealer


@dataclass(frozen=True)
class LoggedIn:
    """A login that succeeded: the user, their new session, and a new device cookie secret when
    the browser had no valid one for this user."""

    user: User
    opened: OpenedSession
    device_secret: str | None
    recovery_codes: tuple[str, ...] = ()  # made when this sign-in finished enrolling


@dataclass(frozen=True)
class _Second:
    method: two_factor.Method | None = None
    recovery_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Checked:
    user_id: str
    keys: tuple[str, ...]
    known_device: bool


async def log_in(
    factory: async_sessionmaker[AsyncSession],
    *,
    attempt: Attempt,
    limits: ThrottleLimits,
    ttl: timedelta,
    factor: SecondFactor | None = None,
) -> LoggedIn:
    """Check credentials (throttled) and open a login session.

    A user with two-factor on (or who must have it, per `factor.requirement`) also needs
    `attempt.code`: a current authenticator code or an unused recovery code. A user who must
    but has not enrolled gets an enrolment instead of a session; signing in again with a code
    of it turns two-factor on and returns recovery codes with the session.

    Raises:
        LoginThrottled: too many recent failures for the account, address or device.
        InvalidCredentials: no active user has this username and password.
        TwoFactorRequired: the password is right; the code is missing.
        InvalidTwoFactorCode: the code is wrong, replayed or spent (counted by the throttle).
        EnrolmentRequired: the user must enrol first (its details hold the secret and URI).
    """
    checked = await _check(factory, attempt=attempt, limits=limits)
    second = await _second_factor(factory, checked.user_id, attempt, factor)
    async with write_transaction(factory) as session:
        await login_throttle.succeeded(session, keys=checked.keys, limits=limits)
        user = await users.get(session, user_id=checked.user_id)
        user.last_login_at = clock.now()
        user.last_login_method = "password"
        opened = await login_sessions.open_session(session, user=user, ttl=ttl)
        details = {"secondFactor": second.method} if second.method else {}
        await _audit(session, "sign_in.succeeded", attempt, user.id, "success", details)
        device = None
        if not checked.known_device:
            device = await login_devices.remember(session, user_id=user.id)
    return LoggedIn(user, opened, device, second.recovery_codes)


async def _second_factor(
    factory: async_sessionmaker[AsyncSession],
    user_id: str,
    attempt: Attempt,
    factor: SecondFactor | None,
) -> _Second:
    """Check (or enrol) the second factor of a user whose password was right.

    Raises:
        TwoFactorRequired, InvalidTwoFactorCode, EnrolmentRequired: as `log_in` says.
    """
    if factor is None:
        return _Second()
    refused: SwitchboardError
    async with write_transaction(factory) as session:
        user = await users.get(session, user_id=user_id)
        row = await two_factor.state_of(session, user_id=user_id)
        on = row is not None and row.confirmed_at is not None
        if not on and not two_factor.required_for(user, factor.requirement):
            return _Second()
        try:
            if on and attempt.code is None:
                raise two_factor.TwoFactorRequired()
            if on and attempt.code is not None:
                method = await two_factor.check_code(
                    session, user=user, code=attempt.code, sealer=factor.sealer
                )
                return _Second(method)
            if row is not None and attempt.code is not None:
                codes = await two_factor.confirm(
                    session, user=user, code=attempt.code, sealer=factor.sealer
                )
                return _Second("totp", tuple(codes))
            enrolment = await two_factor.start_enrolment(
                session, user=user, sealer=factor.sealer, keep_pending=True
            )
            refused = two_factor.EnrolmentRequired(
                secret=enrolment.secret, otpauthUri=enrolment.uri
            )
        except two_factor.TwoFactorRequired as exc:
            refused = exc
        except two_factor.InvalidTwoFactorCode as exc:
            refused = exc
    # committed: an enrolment just started stays; nothing else was written
    if isinstance(refused, two_factor.InvalidTwoFactorCode):
        await _refused(factory, "sign_in", attempt, user_id, "invalid_two_factor_code")
    raise refused


async def check_password(
    factory: async_sessionmaker[AsyncSession], *, attempt: Attempt, limits: ThrottleLimits
) -> None:
    """Check a signed-in user's password again (throttled as a login is), for a change that
    asks for it (turning two-factor off).

    Raises:
        LoginThrottled: too many recent failures for the account, address or device.
        WrongCurrentPassword: `attempt.password` is not the user's password.
    """
    try:
        checked = await _check(factory, attempt=attempt, limits=limits, purpose="password_check")
    except InvalidCredentials:
        raise WrongCurrentPassword() from None
    async with write_transaction(factory) as session:
        await login_throttle.succeeded(session, keys=checked.keys, limits=limits)


async def change_own_password(
    factory: async_sessionmaker[AsyncSession],
    *,
    attempt: Attempt,
    new_password: str,
    keep_api_tokens: bool,
    limits: ThrottleLimits,
    reissue_ttl: timedelta | None,
) -> OpenedSession | None:
    """Change a user's password after checking their current one (throttled as a login is).

    Ends all their sessions and known devices and, unless `keep_api_tokens`, revokes their API
    tokens (`users.change_password`). With `reissue_ttl`, opens a new session for the caller.

    Raises:
        LoginThrottled: too many recent failures for the account, address or device.
        WrongCurrentPassword: `attempt.password` is not the user's password.
        WeakPassword: the new password does not meet `core.password_policy`.
    """
    try:
        checked = await _check(factory, attempt=attempt, limits=limits, purpose="password_change")
    except InvalidCredentials:
        raise WrongCurrentPassword() from None
    async with write_transaction(factory) as session:
        await login_throttle.succeeded(session, keys=checked.keys, limits=limits)
    password_hash = await passwords.hash_new(new_password, username=attempt.username)
    async with write_transaction(factory) as session:
        user = await users.get(session, user_id=checked.user_id)
        await users.change_password(
            session, user=user, password_hash=password_hash, keep_api_tokens=keep_api_tokens
        )
        details = {"keepApiTokens": keep_api_tokens}
        await _audit(session, "password.changed", attempt, user.id, "success", details)
        if reissue_ttl is None:
            return None
        return await login_sessions.open_session(session, user=user, ttl=reissue_ttl)


async def _check(
    factory: async_sessionmaker[AsyncSession],
    *,
    attempt: Attempt,
    limits: ThrottleLimits,
    purpose: str = "sign_in",
) -> _Checked:
    """Count the attempt, then verify the password with no transaction open; a refusal is
    written to the audit log (`<purpose>.failed`) in a transaction of its own.

    Raises:
        LoginThrottled: the attempt must wait; it was not counted.
        InvalidCredentials: the password is wrong or the user unknown or inactive.
    """
    user_id: str | None = None  # read before a refusal's rollback expires the row
    keys: tuple[str, ...] = ()
    try:
        async with write_transaction(factory) as session:
            user = await users.find_by_username(session, username=attempt.username)
            user_id = user.id if user is not None else None
            device_id = None
            if user is not None:
                secret = attempt.device_secret
                device_id = await login_devices.recognise(session, secret=secret, user_id=user.id)
            keys = login_throttle.keys_for(
                username=attempt.username, address=attempt.address, device_id=device_id
            )
            await login_throttle.admit(session, keys=keys, limits=limits)
    except LoginThrottled as exc:
        _log("login throttled", attempt, keys, retry_after=exc.retry_after)
        await _refused(factory, purpose, attempt, user_id, "throttled")
        raise
    password_hash = user.password_hash if user is not None else None
    ok = await passwords.verify_password(password_hash, attempt.password)
    if user is None or not ok or not user.active:
        _log("login failed", attempt, keys, known_user=user is not None)
        reason = "unknown_user" if user is None else "inactive" if ok else "wrong_password"
        await _refused(factory, purpose, attempt, user_id, reason)
        raise InvalidCredentials()
    return _Checked(user.id, keys, device_id is not None)


async def _refused(
    factory: async_sessionmaker[AsyncSession],
    purpose: str,
    attempt: Attempt,
    user_id: str | None,
    reason: str,
) -> None:
    """A refused password check, in the audit log although the request fails (repeats from
    one address coalesced, `core.audit_refusals`)."""
    await audit_refusals.record(
        factory,
        kind=f"{purpose}.failed",
        reason=reason,
        about=attempt.username,
        actor_id=user_id,
        subject_type="user" if user_id else None,
        subject_id=user_id,
        details={"username": attempt.username, "method": "password", "reason": reason},
        where=_origin(attempt),
    )


async def _audit(
    session: AsyncSession,
    kind: str,
    attempt: Attempt,
    user_id: str | None,
    outcome: audit.Outcome,
    details: Mapping[str, object],
) -> None:
    """An audit event of a sign-in or password check: the username as typed and the method,
    never the password; the client's address as the throttle saw it."""
    await audit.record(
        session,
        kind=kind,
        actor_id=user_id,
        subject_type="user" if user_id else None,
        subject_id=user_id,
        outcome=outcome,
        details={"username": attempt.username, "method": "password", **details},
        where=_origin(attempt),
    )


def _origin(attempt: Attempt) -> audit.Origin:
    """The client's address as the throttle saw it, and the request's user agent."""
    where = audit.origin.get()
    return audit.Origin(ip=attempt.address, user_agent=where.user_agent if where else None)


def _log(event: str, attempt: Attempt, keys: tuple[str, ...], **fields: object) -> None:
    # Never the password: the username, the address and which counters moved.
    extra = {"username": attempt.username, "client": attempt.address, "counters": list(keys)}
    log.warning("%s for %r from %s", event, attempt.username, attempt.address, extra=extra | fields)
