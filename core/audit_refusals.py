"""Refusals a stranger can repeat at will (a wrong password, a refused OAuth client, a failed
OpenID callback), audited without letting a flood grow the log without bound.

`record(factory, kind=..., reason=..., about=..., ...)` writes the first refusal of a key (its
kind, reason, client address and `about`: the username or client it named) in full, as
`core.audit.record_standalone` would. Further refusals with that key within WINDOW of the first
add one to that event's `count` and set its `last_at` instead of adding a row; one after the
window opens a new event. An address may open DISTINCT_PER_ADDRESS keys of one kind per window;
its further refusals of that kind, whatever username or client they name, are counted on one
event of reason `many_distinct` (no actor or subject; `first` holds the first such refusal's
details). A flood then writes at most DISTINCT_PER_ADDRESS + 1 rows per kind, address and window.

The open keys live in `core_audit_repeat`. Counting is one `UPDATE ... SET count = count + 1`;
two refusals opening the same key at once cannot both insert its row (primary key): the one
that loses rolls back whole and counts on the winner's event, so every count is exact on SQLite
and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import audit, clock
from core.database import write_transaction
from core.models import AuditEvent, AuditRepeat

# Long enough that a flood costs a few rows an hour, short enough that the log still shows
# when an attack went on (a new row every window).
WINDOW = timedelta(minutes=10)
DISTINCT_PER_ADDRESS = 20
_TRIES = 4  # a key opened concurrently is found on the next try


async def record(
    factory: async_sessionmaker[AsyncSession],
    *,
    kind: str,
    reason: str,
    about: str,
    actor_id: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    where: audit.Origin | None = None,
) -> None:
    """Audit a refusal (outcome `failure`) in a transaction of its own, coalesced as the module
    says; `about` is the username or client it named (part of the key, never stored as is)."""
    where = where or audit.origin.get() or audit.Origin()
    address = (where.ip or "")[:64]
    event = {
        "kind": kind,
        "actor_id": actor_id,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "outcome": "failure",
        "details": details,
        "where": where,
    }
    for attempt in range(_TRIES):
        try:
            async with write_transaction(factory) as session:
                await _record(session, kind, _key(kind, reason, address, about), address, event)
            return
        except IntegrityError:
            if attempt == _TRIES - 1:
                raise


async def _record(
    session: AsyncSession, kind: str, key: str, address: str, event: dict[str, Any]
) -> None:
    now = clock.now()
    if await _count_on(session, key, now):
        return
    if not await _take_slot(session, _key(kind, "#slots", address, ""), now):
        key = _key(kind, "#many", address, "")
        if await _count_on(session, key, now):
            return
        first = audit.redact(event["details"])
        event |= {"actor_id": None, "subject_type": None, "subject_id": None}
        event["details"] = {
            "reason": "many_distinct",
            "distinctLimit": DISTINCT_PER_ADDRESS,
            "first": first,
        }
    opened = await audit.record(session, **event)
    await _forget_expired(session, key, now)
    session.add(AuditRepeat(key=key, event_id=opened.id, until=now + WINDOW, keys_opened=0))
    await session.flush()  # IntegrityError: a concurrent refusal opened the key first


async def _count_on(session: AsyncSession, key: str, now: datetime) -> bool:
    """Count one more refusal on the open event of `key`; False if the key is not open."""
    event_id = await session.scalar(
        select(AuditRepeat.event_id).where(AuditRepeat.key == key, AuditRepeat.until > now)
    )
    if event_id is None:
        return False
    counted = await session.execute(
        update(AuditEvent)
        .where(AuditEvent.id == event_id)
        .values(count=AuditEvent.count + 1, last_at=now)
        .execution_options(synchronize_session=False)
    )
    if _rows(counted) == 1:
        return True
    await session.execute(delete(AuditRepeat).where(AuditRepeat.key == key))  # event pruned
    return False


async def _take_slot(session: AsyncSession, key: str, now: datetime) -> bool:
    """Let the address open one more key this window; False when it has opened its limit."""
    await _forget_expired(session, key, now)
    take = (
        update(AuditRepeat)
        .where(AuditRepeat.key == key, AuditRepeat.keys_opened < DISTINCT_PER_ADDRESS)
        .values(keys_opened=AuditRepeat.keys_opened + 1)
        .execution_options(synchronize_session=False)
    )
    if _rows(await session.execute(take)) == 1:
        return True
    if await session.scalar(select(AuditRepeat.key).where(AuditRepeat.key == key)) is not None:
        # full, or made by a transaction that committed after the update's snapshot: ask again
        return _rows(await session.execute(take)) == 1
    session.add(AuditRepeat(key=key, event_id=None, until=now + WINDOW, keys_opened=1))
    await session.flush()  # IntegrityError: a concurrent refusal made the row first
    return True


async def _forget_expired(session: AsyncSession, key: str, now: datetime) -> None:
    """Drop `key`'s row if its window has passed, so it can be opened again."""
    await session.execute(
        delete(AuditRepeat).where(AuditRepeat.key == key, AuditRepeat.until <= now)
    )


def _key(kind: str, reason: str, address: str, about: str) -> str:
    text = "\x1f".join((kind, reason, address, about))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _rows(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
