"""Usage budgets: CRUD, their current-period figures, and reserving room in them atomically.

Reserving is a conditional update per counter (`reserved = reserved + x WHERE spent + reserved + x
<= limit`), touched in counter-id order so concurrent admissions never deadlock. Under PostgreSQL's
READ COMMITTED a blocked update re-checks its condition against the committed row; on SQLite the
admission's BEGIN IMMEDIATE serialises writers. No process memory is involved.

A global or team budget's counter is one row every admission and every settlement of its callers
updates: its lock is held until the transaction commits, so those updates come last in both
(`hold`, `ledger._record`), and the counters are read before, never inserted over (an insert
over a held counter waits for the holder's commit). bench/scaling.py measures what is left.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    Update,
    and_,
    bindparam,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from billing import periods
from billing.errors import BudgetExceeded, BudgetNotFound, InvalidBudget
from billing.models import Budget, BudgetCounter, insert_ignoring_duplicates
from billing.periods import Period
from billing.schemas import BudgetCreate, BudgetRead, BudgetUpdate
from core import clock
from core.ids import new_id

Scope = tuple[str, str | None]
BUDGETS = cast(Table, Budget.__table__)
COUNTERS = cast(Table, BudgetCounter.__table__)
# Statements of every admission, built once (their compiled form is cached on them).
_COUNTERS_OF = select(COUNTERS.c.id, COUNTERS.c.budget_id, COUNTERS.c.period_start).where(
    COUNTERS.c.budget_id.in_(bindparam("ids", expanding=True)),
    COUNTERS.c.period_start >= bindparam("earliest"),
)
_COUNTER = select(COUNTERS).where(COUNTERS.c.id == bindparam("cid"))
_APPLICABLE = (
    select(BUDGETS)
    .where(
        or_(
            BUDGETS.c.scope == "global",
            and_(BUDGETS.c.scope == "user", BUDGETS.c.scope_id == bindparam("user")),
            and_(
                BUDGETS.c.scope == "team",
                BUDGETS.c.scope_id.in_(bindparam("teams", expanding=True)),
            ),
            and_(BUDGETS.c.scope == "apiToken", BUDGETS.c.scope_id == bindparam("token")),
            and_(BUDGETS.c.scope == "assistant", BUDGETS.c.scope_id == bindparam("assistant")),
        )
    )
    .order_by(BUDGETS.c.id)
)


async def create(
    session: AsyncSession, *, data: BudgetCreate, profile_id: str | None = None
) -> Budget:
    """Add a budget."""
    budget = Budget(**data.model_dump(), profile_id=profile_id)
    session.add(budget)
    await session.flush()
    return budget


async def get(session: AsyncSession, *, budget_id: str) -> Budget:
    """A budget by id.

    Raises:
        BudgetNotFound: no budget has that id.
    """
    budget = await session.get(Budget, budget_id)
    if budget is None:
        raise BudgetNotFound(budget_id=budget_id)
    return budget


async def list_budgets(
    session: AsyncSession, *, scope: str | None = None, scope_id: str | None = None
) -> Sequence[Budget]:
    """Budgets, optionally of one scope (and scope id), by name."""
    stmt = select(Budget).order_by(Budget.name, Budget.id)
    if scope is not None:
        stmt = stmt.where(Budget.scope == scope)
    if scope_id is not None:
        stmt = stmt.where(Budget.scope_id == scope_id)
    return list(await session.scalars(stmt))


async def update_budget(session: AsyncSession, *, budget: Budget, data: BudgetUpdate) -> Budget:
    """Change a budget; fields left out of the request stay as they are.

    Raises:
        InvalidBudget: the change would leave the budget with neither limit.
    """
    changes = {
        field: value
        for field, value in data.model_dump(exclude_unset=True).items()
        if value is not None or field in ("limit_micros", "limit_tokens")
    }
    limits = [changes.get(f, getattr(budget, f)) for f in ("limit_micros", "limit_tokens")]
    if all(limit is None for limit in limits):
        raise InvalidBudget(budget_id=budget.id)
    for field, value in changes.items():
        setattr(budget, field, value)
    await session.flush()
    return budget


async def delete_budget(session: AsyncSession, *, budget: Budget) -> None:
    """Remove a budget and its counters; requests it admitted still settle normally."""
    await session.delete(budget)
    await session.flush()


async def status(session: AsyncSession, *, budget: Budget) -> BudgetRead:
    """The budget's current period: spent, reserved, remaining and when it resets."""
    start = periods.start_of(cast(Period, budget.period), clock.now())
    counter = await session.scalar(
        select(BudgetCounter).where(
            BudgetCounter.budget_id == budget.id, BudgetCounter.period_start == start
        )
    )
    return _status(budget, start, counter)


def _status(budget: Budget, start: datetime, counter: BudgetCounter | None) -> BudgetRead:
    spent_m, reserved_m, spent_t, reserved_t = (
        (
            counter.spent_micros,
            counter.reserved_micros,
            counter.spent_tokens,
            counter.reserved_tokens,
        )
        if counter is not None
        else (0, 0, 0, 0)
    )
    return BudgetRead(
        id=budget.id,
        name=budget.name,
        scope=budget.scope,
        scope_id=budget.scope_id,
        limit_micros=budget.limit_micros,
        limit_tokens=budget.limit_tokens,
        period=budget.period,
        hard=budget.hard,
        thresholds=list(budget.thresholds or []),
        profile_id=budget.profile_id,
        created_at=budget.created_at,
        period_start=start,
        resets_at=periods.next_start(cast(Period, budget.period), start),
        spent_micros=spent_m,
        reserved_micros=reserved_m,
        remaining_micros=_remaining(budget.limit_micros, spent_m + reserved_m),
        spent_tokens=spent_t,
        reserved_tokens=reserved_t,
        remaining_tokens=_remaining(budget.limit_tokens, spent_t + reserved_t),
    )


def _remaining(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(0, limit - used)


async def applicable(session: AsyncSession, *, scopes: Iterable[Scope]) -> Sequence[Budget]:
    """Every budget over one of the scopes, plus the global ones, by id."""
    return list(await session.scalars(select(Budget).where(_over(scopes)).order_by(Budget.id)))


def applicable_now(
    connection: Connection,
    *,
    user_id: str,
    team_ids: Sequence[str],
    api_token_id: str | None,
    assistant_id: str | None,
) -> list[Budget]:
    """`applicable` on an admission's Core connection (detached Budget objects, by id)."""
    params = {
        "user": user_id,
        "teams": list(team_ids),
        "token": api_token_id,
        "assistant": assistant_id,
    }
    return [Budget(**row._mapping) for row in connection.execute(_APPLICABLE, params)]


def _over(scopes: Iterable[Scope]) -> ColumnElement[bool]:
    conditions = [and_(BUDGETS.c.scope == s, BUDGETS.c.scope_id == i) for s, i in scopes if i]
    conditions.append(BUDGETS.c.scope == "global")
    return or_(*conditions)


def reserve(
    connection: Connection, *, budgets: Sequence[Budget], micros: int, tokens: int, at: datetime
) -> list[str]:
    """Hold `micros` and `tokens` in every budget's current period, or none of them.

    Soft budgets record the hold without refusing. Returns the ids of the counters touched.

    Raises:
        BudgetExceeded: a hard budget has no room; the error names it. The caller must roll back.
    """
    counters = counters_now(connection, budgets=budgets, at=at)
    hold(connection, budgets=budgets, counters=counters, micros=micros, tokens=tokens, at=at)
    return [counter_id for counter_id, _ in counters]


def counters_now(
    connection: Connection, *, budgets: Sequence[Budget], at: datetime
) -> list[tuple[str, str]]:
    """The (counter id, budget id) of each budget's current period, in counter-id order; made
    where missing. Reads first: inserting over a counter another admission holds would wait for
    that admission's commit."""
    if not budgets:
        return []
    starts = {b.id: periods.start_of(cast(Period, b.period), at) for b in budgets}
    found = _counters_of(connection, starts)
    if len(found) < len(starts):  # the first call of a period
        known = {budget_id for _, budget_id in found}
        _create_counters(connection, {b: s for b, s in starts.items() if b not in known})
        found = _counters_of(connection, starts)
    return found


def hold(
    connection: Connection,
    *,
    budgets: Sequence[Budget],
    counters: Sequence[tuple[str, str]],
    micros: int,
    tokens: int,
    at: datetime,
) -> None:
    """Hold room in `counters` (from `counters_now`), in counter-id order so concurrent
    admissions never deadlock. Each is a budget's hot row: run this last before the commit, so
    its lock is held for as short a time as can be.

    Raises:
        BudgetExceeded: a hard budget has no room; the error names it. The caller must roll back.
    """
    by_budget = {b.id: b for b in budgets}
    for counter_id, budget_id in counters:
        budget = by_budget[budget_id]
        check_micros = budget.hard and budget.limit_micros is not None
        check_tokens = budget.hard and budget.limit_tokens is not None
        params = {
            "cid": counter_id,
            "micros": micros,
            "tokens": tokens,
            "limit_micros": budget.limit_micros,
            "limit_tokens": budget.limit_tokens,
        }
        if connection.execute(_hold(check_micros, check_tokens), params).rowcount == 0:
            start = periods.start_of(cast(Period, budget.period), at)
            raise _exceeded(connection, budget, counter_id, start, micros, tokens)


@functools.cache
def _hold(check_micros: bool, check_tokens: bool) -> Update:
    """The conditional update that holds room in a counter (built once per kind of budget)."""
    room: list[ColumnElement[bool]] = []
    if check_micros:
        used = COUNTERS.c.spent_micros + COUNTERS.c.reserved_micros + bindparam("micros")
        room.append(used <= bindparam("limit_micros"))
    if check_tokens:
        used = COUNTERS.c.spent_tokens + COUNTERS.c.reserved_tokens + bindparam("tokens")
        room.append(used <= bindparam("limit_tokens"))
    return (
        update(COUNTERS)
        .where(COUNTERS.c.id == bindparam("cid"), *room)
        .values(
            reserved_micros=COUNTERS.c.reserved_micros + bindparam("micros"),
            reserved_tokens=COUNTERS.c.reserved_tokens + bindparam("tokens"),
        )
    )


def _counters_of(connection: Connection, starts: dict[str, datetime]) -> list[tuple[str, str]]:
    params = {"ids": list(starts), "earliest": min(starts.values())}
    found = connection.execute(_COUNTERS_OF, params)
    return sorted((i, b) for i, b, start in found if starts[b] == start)


def _create_counters(connection: Connection, starts: dict[str, datetime]) -> None:
    """Counters for these budgets' periods (in budget-id order), unless another admission made
    them first."""
    rows = [
        {
            "id": new_id(),
            "budget_id": b,
            "period_start": s,
            "spent_micros": 0,
            "reserved_micros": 0,
            "spent_tokens": 0,
            "reserved_tokens": 0,
        }
        for b, s in sorted(starts.items())
    ]
    connection.execute(insert_ignoring_duplicates(connection.dialect.name, BudgetCounter), rows)


def _exceeded(
    connection: Connection,
    budget: Budget,
    counter_id: str,
    start: datetime,
    micros: int,
    tokens: int,
) -> BudgetExceeded:
    row = connection.execute(_COUNTER, {"cid": counter_id}).one()
    view = _status(budget, start, BudgetCounter(**row._mapping))
    resets = view.resets_at.isoformat() if view.resets_at else None
    return BudgetExceeded(
        f"The budget {budget.name!r} has no room for this request"
        + (f"; it resets at {resets}." if resets else "."),
        budget={
            "id": budget.id,
            "name": budget.name,
            "scope": budget.scope,
            "scopeId": budget.scope_id,
        },
        limitMicros=budget.limit_micros,
        limitTokens=budget.limit_tokens,
        spentMicros=view.spent_micros,
        reservedMicros=view.reserved_micros,
        spentTokens=view.spent_tokens,
        reservedTokens=view.reserved_tokens,
        requestedMicros=micros,
        requestedTokens=tokens,
        resetsAt=resets,
    )
