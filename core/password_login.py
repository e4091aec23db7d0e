"""Whether a username may sign in with a password: always, unless `SWITCHBOARD_PASSWORD_LOGIN`
is off, when only the break-glass admins may (the bootstrap admin and the usernames in
`SWITCHBOARD_BREAK_GLASS_USERS`), so an outage at the identity provider locks nobody out."""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import PermissionDenied


class PasswordLoginDisabled(PermissionDenied):
    """Password sign-in is switched off here; sign in with your organisation's provider."""

    code = "password_login_disabled"


def check(username: str, *, enabled: bool, admin_username: str, break_glass: Iterable[str]) -> None:
    """Refuse a password sign-in when passwords are off and the user is no break-glass admin
    (names compared case-insensitively, as usernames are). Checked before the password, so
    it says nothing of whether the password was right.

    Raises:
        PasswordLoginDisabled: passwords are off for this username.
    """
    if enabled:
        return
    allowed = {name.lower() for name in (admin_username, *break_glass) if name}
    if username.lower() not in allowed:
        raise PasswordLoginDisabled()
