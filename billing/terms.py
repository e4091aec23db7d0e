"""A caller's terms: what admission reads that only an admin changes, kept while it stands still.

The team of the caller's seat, the usage profiles that decide which models they may call, the
budgets over them and their rate limits were four statements on every admission, a third of the
CPU of admitting a call (bench/README.md). They are kept in process under the identity epoch
(`core.auth_epoch`): every change to a seat, budget, usage profile or rate-limit override moves the
epoch in the change's own transaction (the flush hook in `billing.models`, and
`billing.seats.unassign`), as a change to a user, token, team or membership does. Admission reads
the epoch first, in its own transaction: on SQLite under the write lock (nothing commits in
between), on PostgreSQL before the terms, so what is kept under an epoch is never older than it.
A change committed through any worker or host therefore applies to the very next call admitted
anywhere. Budget counters, reservations and rate windows are never kept: budgets and limits stay
exact. Nothing is kept for a caller without a seat (the refusal reads again), and `TTL_SECONDS`
bounds what the epoch cannot see (a row changed by hand in the database).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Engine, Table, bindparam, select

from billing import budgets, profiles, ratelimits
from billing.errors import SeatRequired
from billing.models import Budget, Seat
from billing.ratelimits import RateKey, RateLimits
from core import auth_epoch
from core.models import User

TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000
SEATS = cast(Table, Seat.__table__)
USERS = cast(Table, User.__table__)
# Built once: a statement object caches its compiled form.
_SEAT_TEAM = (
    select(SEATS.c.team_id)
    .where(SEATS.c.user_id == bindparam("user"))
    .order_by(SEATS.c.created_at, SEATS.c.id)
    .limit(1)
)
# Whom a person without a seat can ask: the first active admins, by name.
_ADMINS = (
    select(USERS.c.display_name, USERS.c.username, USERS.c.email)
    .where(USERS.c.role == "admin", USERS.c.active.is_(True))
    .order_by(USERS.c.username)
    .limit(3)
)


@dataclass(frozen=True, kw_only=True)
class Terms:
    """What a caller's admission is decided on, apart from counters and windows."""

    seat_team: str  # the team of the caller's seat (the oldest, if several teams gave one)
    rule: profiles.ModelRule
    budgets: tuple[Budget, ...]  # shared between calls: read them, never change them
    rate_keys: tuple[RateKey, ...]


# Who calls: user, teams, API token, assistant, and the default rate limits of settings.
_Key = tuple[str, tuple[str, ...], str | None, str | None, RateLimits]
_Entry = tuple[float, int, Terms]
_kept: weakref.WeakKeyDictionary[Engine, dict[_Key, _Entry]] = weakref.WeakKeyDictionary()


def of(
    connection: Connection,
    *,
    user_id: str,
    team_ids: tuple[str, ...],
    api_token_id: str | None,
    assistant_id: str | None,
    defaults: RateLimits,
) -> Terms:
    """The caller's terms, on an admission's connection: kept ones if the epoch has not moved
    since they were read, else read now (and kept).

    Raises:
        SeatRequired: the user holds no seat.
    """
    epoch = auth_epoch.read_in(connection)  # first: the terms read after it are at least as new
    key = (user_id, team_ids, api_token_id, assistant_id, defaults)
    if epoch is None:
        return _read(connection, key)
    entries = _kept.get(connection.engine)
    if entries is None:
        entries = _kept.setdefault(connection.engine, {})
    now = time.monotonic()
    entry = entries.get(key)
    if entry is not None and entry[1] == epoch and now - entry[0] <= TTL_SECONDS:
        return entry[2]
    terms = _read(connection, key)
    if len(entries) >= MAX_ENTRIES:
        entries.clear()
    entry = entries.get(key)
    if entry is None or entry[1] <= epoch:  # never over what a newer epoch's reader kept
        entries[key] = (now, epoch, terms)
    return terms


def kept(
    engine: Engine,
    *,
    user_id: str,
    team_ids: tuple[str, ...],
    api_token_id: str | None,
    assistant_id: str | None,
    defaults: RateLimits,
) -> tuple[int, Terms] | None:
    """The caller's kept terms and the epoch they were read under, if read within the TTL; the
    caller must check in its own statement that the epoch is still that one (`billing.one_trip`).
    """
    entry = _kept.get(engine, {}).get((user_id, team_ids, api_token_id, assistant_id, defaults))
    if entry is None or time.monotonic() - entry[0] > TTL_SECONDS:
        return None
    return entry[1], entry[2]


def _read(connection: Connection, key: _Key) -> Terms:
    user_id, team_ids, api_token_id, assistant_id, defaults = key
    seat_team = seat_team_of(connection, user_id)
    deciding = connection.execute(profiles.DECIDING, {"user": user_id, "teams": list(team_ids)})
    rule = profiles.rule_of(deciding.all())
    applicable = budgets.applicable_now(
        connection,
        user_id=user_id,
        team_ids=team_ids,
        api_token_id=api_token_id,
        assistant_id=assistant_id,
    )
    keys = ratelimits.resolve(
        connection,
        user_id=user_id,
        team_ids=team_ids,
        api_token_id=api_token_id,
        defaults=defaults,
    )
    return Terms(
        seat_team=seat_team,
        rule=rule,
        budgets=tuple(applicable),
        rate_keys=tuple(keys),
    )


def seat_team_of(connection: Connection, user_id: str) -> str:
    """The team of the user's seat (the oldest, if several teams gave one).

    Raises:
        SeatRequired: the user holds no seat.
    """
    team_id = connection.scalar(_SEAT_TEAM, {"user": user_id})
    if team_id is None:
        admins = [
            {"name": row.display_name or row.username, "email": row.email}
            for row in connection.execute(_ADMINS)
        ]
        raise SeatRequired(user_id=user_id, admins=admins)
    return str(team_id)
