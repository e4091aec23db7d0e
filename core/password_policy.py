"""What a new password must be: long enough, not a common or easily guessed one, printable.

Common passwords are judged by zxcvbn (Dropbox's estimator, with its ranked lists of 30,000 common
passwords, names and English words, keyboard patterns, repeats and l33t substitutions), not by a
list of our own. It is pure Python and takes 1-3 ms, so callers run it off the event loop
(`core.passwords.hash_new`).
"""

from __future__ import annotations

import unicodedata

from core.errors import InvalidInput

MIN_LENGTH = 12
# zxcvbn's score: 3 is "safely unguessable" (about 10^8 guesses and more).
MIN_SCORE = 3
# zxcvbn refuses longer inputs (its matching grows fast with length); the start is judged.
_JUDGED_LENGTH = 72


class WeakPassword(InvalidInput):
    """That password is not allowed."""

    code = "weak_password"


class PasswordTooShort(WeakPassword):
    """The password is too short: use at least 12 characters."""

    code = "password_too_short"


class PasswordTooCommon(WeakPassword):
    """The password is too common or too easy to guess: use a longer phrase of unrelated words."""

    code = "password_too_common"


class PasswordHasControlCharacters(WeakPassword):
    """The password holds control characters (such as NUL); use printable characters only."""

    code = "password_has_control_characters"


def check(password: str, *, username: str = "") -> None:
    """Refuse a password that is too short, holds control characters or is easily guessed.

    Raises:
        PasswordHasControlCharacters: a NUL, newline or other control character is in it.
        PasswordTooShort: fewer than MIN_LENGTH characters.
        PasswordTooCommon: zxcvbn finds it among common passwords, words and patterns, or made of
            the username.
    """
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        raise PasswordHasControlCharacters(field="password")
    if len(password) < MIN_LENGTH:
        raise PasswordTooShort(field="password", minLength=MIN_LENGTH)
    # zxcvbn's lists cost ~14 MB: loaded on the first password set, off the loop (core.passwords).
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]

    inputs = [username] if username else []
    verdict = zxcvbn(password[:_JUDGED_LENGTH], user_inputs=inputs)
    if verdict["score"] < MIN_SCORE:
        warning = verdict["feedback"].get("warning") or ""
        raise PasswordTooCommon(field="password", hint=warning)
