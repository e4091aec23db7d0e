"""Bearer tokens resolved in the last few seconds, so most requests authenticate with no query.

A hit costs microseconds where the lookup cost two queries (~1 ms of CPU, bench/README.md). What is
kept is plain column values: each request gets objects of its own, as from a fresh query. Any change
this process flushes to a user, token, team or membership empties every cache at once (revoking a
token here refuses it on the next request); a change made by another worker or host is seen
within `TTL_SECONDS`.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from core import clock
from core.models import ApiToken, Team, TeamMembership, User

TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000
_WATCHED = (User, ApiToken, Team, TeamMembership)
_generation = 0
_T = TypeVar("_T")


@event.listens_for(Session, "after_flush")
def _note_identity_changes(session: Session, _context: Any) -> None:
    global _generation
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, _WATCHED):
            _generation += 1
            return


class AuthCache:
    """Secrets to the token, user and team ids they resolved to, for a few seconds."""

    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, int, dict[str, Any], dict[str, Any], tuple[str, ...]]]
        self._entries = {}

    def get(self, secret: str) -> tuple[ApiToken, User, tuple[str, ...]] | None:
        """What the secret resolved to, if that is recent and nothing has changed since."""
        entry = self._entries.get(secret)
        if entry is None:
            return None
        at, generation, token_values, user_values, team_ids = entry
        expires = token_values.get("expires_at")
        stale = time.monotonic() - at > self.ttl or generation != _generation
        if stale or (expires is not None and clock.as_utc(expires) <= clock.now()):
            del self._entries[secret]
            return None
        return _detached(ApiToken, token_values), _detached(User, user_values), team_ids

    def put(self, secret: str, token: ApiToken, user: User, team_ids: tuple[str, ...]) -> None:
        """Remember a resolved secret."""
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        values = (_values(token), _values(user), team_ids)
        self._entries[secret] = (time.monotonic(), _generation, *values)


def _values(obj: object) -> dict[str, Any]:
    return {attr.key: getattr(obj, attr.key) for attr in inspect(type(obj)).column_attrs}


def _detached(cls: type[_T], values: dict[str, Any]) -> _T:
    obj = cls(**values)
    make_transient_to_detached(obj)
    return obj
