"""Usage alerts: one per budget, period and threshold, stored at settlement, sent to a webhook.

Alerts are written in the settlement's transaction (a unique key makes each crossing happen once,
whatever the number of workers) and delivered by `deliver_pending`, which the app runs in the
background, so a slow or broken webhook never delays a model call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.models import Budget, BudgetCounter, UsageAlert, insert_ignoring_duplicates
from core import clock
from core.database import write_transaction
from core.ids import new_id

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=1)
MAX_ATTEMPTS = 5


def _crossed(budget: Budget, counter: BudgetCounter) -> list[float]:
    """The thresholds the counter's spending has reached (soft budgets also alert at 100%)."""
    thresholds = set(budget.thresholds or [])
    if not budget.hard:
        thresholds.add(1.0)
    fractions = []
    if budget.limit_micros:
        fractions.append(counter.spent_micros / budget.limit_micros)
    if budget.limit_tokens:
        fractions.append(counter.spent_tokens / budget.limit_tokens)
    reached = max(fractions, default=0.0)
    return sorted(t for t in thresholds if reached >= t)


async def record_crossings(session: AsyncSession, *, counter_ids: Sequence[str]) -> None:
    """Store an alert for every threshold the counters' budgets have newly reached."""
    if not counter_ids:
        return
    rows = await session.execute(
        select(BudgetCounter, Budget)
        .join(Budget, Budget.id == BudgetCounter.budget_id)
        .where(BudgetCounter.id.in_(counter_ids))
        .execution_options(populate_existing=True)
    )
    alerts: list[dict[str, Any]] = []
    for counter, budget in rows.all():
        for threshold in _crossed(budget, counter):
            alerts.append(
                {
                    "id": new_id(),
                    "budget_id": budget.id,
                    "budget_name": budget.name,
                    "period_start": counter.period_start,
                    "threshold": threshold,
                    "spent_micros": counter.spent_micros,
                    "spent_tokens": counter.spent_tokens,
                    "limit_micros": budget.limit_micros,
                    "limit_tokens": budget.limit_tokens,
                    "created_at": clock.now(),
                    "attempts": 0,
                }
            )
    if alerts:
        dialect = session.get_bind().dialect.name
        await session.execute(insert_ignoring_duplicates(dialect, UsageAlert, alerts))


async def list_alerts(
    session: AsyncSession, *, budget_id: str | None = None, start: int = 0, limit: int = 50
) -> tuple[Sequence[UsageAlert], int]:
    """Alerts, newest first, with the total count."""
    stmt = select(UsageAlert)
    if budget_id is not None:
        stmt = stmt.where(UsageAlert.budget_id == budget_id)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    page = await session.scalars(
        stmt.order_by(UsageAlert.created_at.desc(), UsageAlert.id.desc()).offset(start).limit(limit)
    )
    return list(page), int(total or 0)


async def deliver_pending(
    factory: async_sessionmaker[AsyncSession],
    *,
    webhook_url: str,
    client: httpx.AsyncClient | None = None,
    batch: int = 50,
) -> int:
    """POST undelivered alerts to the webhook (best effort, at least once); returns how many went.

    Each alert is claimed by a conditional update first, so several workers do not all send it.
    """
    now = clock.now()
    async with factory() as session:
        pending = list(
            await session.scalars(
                select(UsageAlert.id)
                .where(UsageAlert.delivered_at.is_(None), UsageAlert.attempts < MAX_ATTEMPTS)
                .order_by(UsageAlert.created_at)
                .limit(batch)
            )
        )
    owned = client is None
    http = client or httpx.AsyncClient(timeout=5.0)
    sent = 0
    try:
        for alert_id in pending:
            alert = await _claim(factory, alert_id, now)
            if alert is not None and await _post(http, webhook_url, alert):
                sent += 1
                await _mark(factory, alert_id, delivered=True)
            elif alert is not None:
                await _mark(factory, alert_id, delivered=False)
    finally:
        if owned:
            await http.aclose()
    return sent


async def _claim(
    factory: async_sessionmaker[AsyncSession], alert_id: str, now: datetime
) -> UsageAlert | None:
    async with write_transaction(factory) as session:
        result = await session.execute(
            update(UsageAlert)
            .where(
                UsageAlert.id == alert_id,
                UsageAlert.delivered_at.is_(None),
                or_(UsageAlert.claimed_at.is_(None), UsageAlert.claimed_at < now - CLAIM_TIMEOUT),
            )
            .values(claimed_at=now, attempts=UsageAlert.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], result).rowcount == 0:
            return None
        return await session.get(UsageAlert, alert_id)


async def _post(http: httpx.AsyncClient, url: str, alert: UsageAlert) -> bool:
    body = {
        "type": "usage_alert",
        "id": alert.id,
        "budgetId": alert.budget_id,
        "budgetName": alert.budget_name,
        "periodStart": clock.as_utc(alert.period_start).isoformat(),
        "threshold": alert.threshold,
        "spentMicros": alert.spent_micros,
        "spentTokens": alert.spent_tokens,
        "limitMicros": alert.limit_micros,
        "limitTokens": alert.limit_tokens,
    }
    try:
        response = await http.post(url, json=body)
    except httpx.HTTPError as exc:
        log.warning("usage alert %s not delivered: %s", alert.id, exc)
        return False
    return response.is_success


async def _mark(
    factory: async_sessionmaker[AsyncSession], alert_id: str, *, delivered: bool
) -> None:
    values: dict[str, Any] = {"delivered_at": clock.now()} if delivered else {"claimed_at": None}
    async with write_transaction(factory) as session:
        await session.execute(
            update(UsageAlert)
            .where(UsageAlert.id == alert_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
