"""Bearer tokens and session cookies resolved recently, so most requests authenticate with one
tiny query.

A hit costs one primary-key read of the identity epoch (`core.auth_epoch`) where the lookup cost two
queries through the ORM (~1 ms of CPU, bench/README.md). An entry is used only under the epoch it
was stored with: any change to a user, API token, team or membership, through any worker or host,
moves the epoch and so refuses a revoked token on the next request everywhere. `TTL_SECONDS` bounds
what the epoch cannot see (a bulk UPDATE that bypasses the ORM). What is kept is plain column
values: each request gets objects of its own, as from a fresh query, and only when it uses them
(`/v1` needs only their ids: building both cost ~20 us a request).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import make_transient_to_detached

from core import clock
from core.database import loaded
from core.models import ApiToken, LoginSession, User

TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000
_T = TypeVar("_T")
Credential = TypeVar("Credential", ApiToken, LoginSession)


@dataclass(frozen=True)
class Resolved(Generic[Credential]):
    """What a secret resolved to: the credential's and the user's column values, and the user's
    team ids. The objects are built on demand, fresh each time, as from a query."""

    kind: type[Credential]
    credential_values: dict[str, Any]
    user_values: dict[str, Any]
    team_ids: tuple[str, ...]

    def credential(self) -> Credential:
        """The credential (API token or login session), detached."""
        return _detached(self.kind, self.credential_values)

    def user(self) -> User:
        """The user, detached."""
        return _detached(User, self.user_values)


class AuthCache(Generic[Credential]):
    """Secrets to the credential (API token or login session), user and team ids they resolved
    to, for a few seconds."""

    def __init__(self, kind: type[Credential], ttl: float = TTL_SECONDS) -> None:
        self.kind: type[Credential] = kind
        self.ttl = ttl
        self._entries: dict[str, tuple[float, int, Resolved[Credential]]] = {}

    def get(self, secret: str, *, epoch: int | None) -> Resolved[Credential] | None:
        """What the secret resolved to, if that is recent and was read under `epoch` (None: the
        epoch row is missing, so nothing is used)."""
        entry = self._entries.get(secret)
        if entry is None or epoch is None:
            return None
        at, stored_epoch, resolved = entry
        expires = resolved.credential_values.get("expires_at")
        stale = time.monotonic() - at > self.ttl or stored_epoch != epoch
        if stale or (expires is not None and clock.as_utc(expires) <= clock.now()):
            del self._entries[secret]
            return None
        return resolved

    def put(
        self,
        secret: str,
        token: Credential,
        user: User,
        team_ids: tuple[str, ...],
        *,
        epoch: int | None,
    ) -> None:
        """Remember a resolved secret, read under `epoch` (read before the lookup; None: the
        epoch row is missing, so nothing is kept)."""
        if epoch is None:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        resolved = Resolved(self.kind, _values(token), _values(user), team_ids)
        self._entries[secret] = (time.monotonic(), epoch, resolved)


def _values(obj: object) -> dict[str, Any]:
    return {attr.key: getattr(obj, attr.key) for attr in inspect(type(obj)).column_attrs}


def _detached(cls: type[_T], values: dict[str, Any]) -> _T:
    """A detached object of `values`, as a query would load it: the values set as loaded (no
    change history), not through the constructor's per-attribute events (a fifth of the cost of
    authenticating a request, on every request)."""
    obj = loaded(cls, values)
    make_transient_to_detached(obj)
    return obj
