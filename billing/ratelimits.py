"""Rate limits: requests and tokens per minute per user and API token, shared through the database.

Each key (`user:<id>`, `apiToken:<id>`) has a sliding one-minute window of admitted requests. An
admission locks the key's bucket row, counts the window and records itself, all inside the admission
transaction, so several workers share the limits and a refused admission leaves no trace. The
statements of admission and settlement are plain Core on the admission's connection; on
PostgreSQL an admission usually takes one statement instead (`billing.one_trip`), which relies on
every admission rewriting its buckets' rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.errors import (
    RateLimitExceeded,
    RateLimitOverrideExists,
    RateLimitOverrideNotFound,
)
from billing.models import RateBucket, RateEvent, RateLimitOverride, insert_ignoring_duplicates
from billing.schemas import RateLimitOverrideCreate, RateLimitOverrideUpdate
from core.clock import as_utc
from core.ids import new_id

WINDOW = timedelta(minutes=1)
OVERRIDES = cast(Table, RateLimitOverride.__table__)
BUCKETS = cast(Table, RateBucket.__table__)
EVENTS = cast(Table, RateEvent.__table__)
# Statements of every admission, built once (their compiled form is cached on them).
_OVERRIDES_OF = select(
    OVERRIDES.c.scope,
    OVERRIDES.c.scope_id,
    OVERRIDES.c.requests_per_minute,
    OVERRIDES.c.tokens_per_minute,
).where(OVERRIDES.c.scope_id.in_(bindparam("ids", expanding=True)))
# The lock rewrites the bucket row (the same key): its new version tells a one-statement admission
# racing this one (`billing.one_trip`) that its snapshot of the window is older than the lock.
_LOCK = update(BUCKETS).where(BUCKETS.c.key == bindparam("bucket")).values(key=BUCKETS.c.key)
_FORGET = delete(EVENTS).where(EVENTS.c.key == bindparam("key"), EVENTS.c.at <= bindparam("since"))
_WINDOW = (
    select(EVENTS.c.at, EVENTS.c.tokens)
    .where(EVENTS.c.key == bindparam("key"), EVENTS.c.at > bindparam("since"))
    .order_by(EVENTS.c.at)
)
_RECORD = insert(EVENTS)
_SETTLE = (
    update(EVENTS)
    .where(EVENTS.c.reservation_id == bindparam("rid"))
    .values(tokens=bindparam("used"))
)
_SETTLE_SQL = f"UPDATE {EVENTS.name} SET tokens = ? WHERE reservation_id = ?"


@dataclass(frozen=True, kw_only=True)
class RateLimits:
    """Default limits from settings; None means unlimited."""

    user_requests_per_minute: int | None = None
    user_tokens_per_minute: int | None = None
    token_requests_per_minute: int | None = None
    token_tokens_per_minute: int | None = None


NO_LIMITS = RateLimits()


@dataclass(frozen=True)
class RateState:
    """Where a caller stands on one axis once a request is admitted (its tightest key's)."""

    limit: int
    remaining: int
    reset_seconds: int  # until the key's window holds nothing (back to the full limit)


@dataclass(frozen=True)
class Headroom:
    """What an admitted request leaves of the caller's per-minute limits; None: unlimited."""

    requests: RateState | None = None
    tokens: RateState | None = None


UNLIMITED = Headroom()


@dataclass(frozen=True, kw_only=True)
class RateKey:
    """One limited key of a request and the limits that apply to it."""

    scope: str
    scope_id: str
    requests_per_minute: int | None
    tokens_per_minute: int | None

    @property
    def key(self) -> str:
        """The bucket key, e.g. `user:<id>`."""
        return f"{self.scope}:{self.scope_id}"


def resolve(
    connection: Connection,
    *,
    user_id: str,
    team_ids: Iterable[str],
    api_token_id: str | None,
    defaults: RateLimits,
) -> list[RateKey]:
    """The keys a request is limited on: the user's own override, else the most generous of their
    teams' overrides, else the defaults; an API token's override, else the token defaults."""
    teams = list(team_ids)
    ids = [user_id, *teams, *([api_token_id] if api_token_id else [])]
    rows = connection.execute(_OVERRIDES_OF, {"ids": ids})
    found = {(o.scope, o.scope_id): o for o in rows}
    user = found.get(("user", user_id))
    team_rows = [found[("team", t)] for t in teams if ("team", t) in found]
    if user is not None:
        rpm, tpm = user.requests_per_minute, user.tokens_per_minute
    elif team_rows:
        rpm = _most_generous(o.requests_per_minute for o in team_rows)
        tpm = _most_generous(o.tokens_per_minute for o in team_rows)
    else:
        rpm, tpm = defaults.user_requests_per_minute, defaults.user_tokens_per_minute
    keys = [RateKey(scope="user", scope_id=user_id, requests_per_minute=rpm, tokens_per_minute=tpm)]
    if api_token_id:
        token = found.get(("apiToken", api_token_id))
        keys.append(
            RateKey(
                scope="apiToken",
                scope_id=api_token_id,
                requests_per_minute=token.requests_per_minute,
                tokens_per_minute=token.tokens_per_minute,
            )
            if token is not None
            else RateKey(
                scope="apiToken",
                scope_id=api_token_id,
                requests_per_minute=defaults.token_requests_per_minute,
                tokens_per_minute=defaults.token_tokens_per_minute,
            )
        )
    return [k for k in keys if k.requests_per_minute is not None or k.tokens_per_minute is not None]


def _most_generous(limits: Iterable[int | None]) -> int | None:
    values = list(limits)
    return None if any(v is None for v in values) else max(v for v in values if v is not None)


def consume(
    connection: Connection,
    *,
    keys: Sequence[RateKey],
    tokens: int,
    at: datetime,
    reservation_id: str,
) -> Headroom:
    """Count a request against every key's window, in key order; returns what is left (counting
    the request's worst-case `tokens`).

    Raises:
        RateLimitExceeded: a key's window is full; the caller must roll back.
    """
    if not keys:
        return UNLIMITED
    headroom = UNLIMITED
    ordered = sorted(keys, key=lambda k: k.key)
    buckets = insert_ignoring_duplicates(connection.dialect.name, RateBucket)
    connection.execute(buckets, [{"key": k.key} for k in ordered])
    for key in ordered:
        span = {"key": key.key, "since": at - WINDOW}
        connection.execute(_LOCK, {"bucket": key.key})
        connection.execute(_FORGET, span)
        window = [(as_utc(a), t) for a, t in connection.execute(_WINDOW, span)]
        _check(key, window, tokens, at)
        event = {"id": new_id(), "key": key.key, "at": at, "tokens": tokens}
        connection.execute(_RECORD, {**event, "reservation_id": reservation_id})
        counted = Window(len(window), sum(t for _, t in window), window[0][0] if window else None)
        headroom = _tighter(headroom, key, counted, tokens, at)
    return headroom


@dataclass(frozen=True)
class Window:
    """A key's window before a request: its requests, their tokens and when the first was made."""

    requests: int
    tokens: int
    first: datetime | None


def headroom_of(
    keys: Sequence[RateKey], windows: Mapping[str, Window], *, tokens: int, at: datetime
) -> Headroom:
    """What a request admitted with `tokens` leaves, given each key's window before it."""
    headroom = UNLIMITED
    for key in sorted(keys, key=lambda k: k.key):
        headroom = _tighter(headroom, key, windows[key.key], tokens, at)
    return headroom


def _tighter(
    headroom: Headroom, key: RateKey, window: Window, tokens: int, at: datetime
) -> Headroom:
    """The headroom so far, or this key's on each axis where it leaves less."""
    started = window.first or at
    reset = max(1, math.ceil((started + WINDOW - at).total_seconds()))
    requests, spent = headroom.requests, headroom.tokens
    rpm, tpm = key.requests_per_minute, key.tokens_per_minute
    if rpm is not None:
        state = RateState(rpm, max(0, rpm - window.requests - 1), reset)
        requests = state if requests is None or state.remaining < requests.remaining else requests
    if tpm is not None:
        used = window.tokens + tokens
        state = RateState(tpm, max(0, tpm - used), reset)
        spent = state if spent is None or state.remaining < spent.remaining else spent
    return Headroom(requests, spent)


def _check(key: RateKey, window: list[tuple[datetime, int]], tokens: int, at: datetime) -> None:
    rpm, tpm = key.requests_per_minute, key.tokens_per_minute
    if rpm is not None and len(window) + 1 > rpm:
        frees = window[len(window) - rpm][0] + WINDOW if rpm > 0 else at + WINDOW
        raise _refusal(key, "requests", rpm, 0, frees, at)
    if tpm is not None:
        used = sum(t for _, t in window)
        if used + tokens > tpm:
            frees = at + WINDOW
            for started, spent in window:
                used -= spent
                if used + tokens <= tpm:
                    frees = started + WINDOW
                    break
            remaining = max(0, tpm - sum(t for _, t in window))
            raise _refusal(key, "tokens", tpm, remaining, frees, at)


def _refusal(
    key: RateKey, axis: str, limit: int, remaining: int, frees: datetime, at: datetime
) -> RateLimitExceeded:
    retry_after = max(1, math.ceil((frees - at).total_seconds()))
    return RateLimitExceeded(
        f"Too many {axis} per minute for this {key.scope}; try again in {retry_after} s.",
        retry_after=retry_after,
        scope=key.scope,
        scopeId=key.scope_id,
        axis=axis,
        limit=limit,
        remaining=remaining,
        reset=retry_after,
        resetAt=frees.isoformat(),
    )


def settle_tokens(connection: Connection, *, reservation_id: str, tokens: int) -> None:
    """Replace a request's worst-case tokens in its windows with what it used.

    On SQLite on the driver's own connection: every settlement runs it, most find no window to
    update, and through SQLAlchemy the statement cost ten times SQLite's answer (bench/README.md).
    """
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        assert raw is not None
        raw.execute(_SETTLE_SQL, (tokens, reservation_id))
        return
    connection.execute(_SETTLE, {"rid": reservation_id, "used": tokens})


async def create_override(
    session: AsyncSession, *, data: RateLimitOverrideCreate
) -> RateLimitOverride:
    """Set a team's, user's or API token's own limits.

    Raises:
        RateLimitOverrideExists: that scope has an override already.
    """
    override = RateLimitOverride(**data.model_dump())
    try:
        async with session.begin_nested():
            session.add(override)
            await session.flush()
    except IntegrityError:
        raise RateLimitOverrideExists(scope=data.scope, scopeId=data.scope_id) from None
    return override


async def get_override(session: AsyncSession, *, override_id: str) -> RateLimitOverride:
    """An override by id.

    Raises:
        RateLimitOverrideNotFound: no override has that id.
    """
    override = await session.get(RateLimitOverride, override_id)
    if override is None:
        raise RateLimitOverrideNotFound(override_id=override_id)
    return override


async def list_overrides(session: AsyncSession) -> Sequence[RateLimitOverride]:
    """Every override, by scope."""
    stmt = select(RateLimitOverride).order_by(RateLimitOverride.scope, RateLimitOverride.scope_id)
    return list(await session.scalars(stmt))


async def update_override(
    session: AsyncSession, *, override: RateLimitOverride, data: RateLimitOverrideUpdate
) -> RateLimitOverride:
    """Change an override; fields left out stay, null lifts that limit."""
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(override, field, value)
    await session.flush()
    return override


async def delete_override(session: AsyncSession, *, override: RateLimitOverride) -> None:
    """Remove an override; the defaults apply again."""
    await session.delete(override)
    await session.flush()
