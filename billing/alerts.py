"""Usage alerts: one per budget, period and threshold, stored at settlement, sent to a webhook.

Alerts are written in the settlement's transaction (on PostgreSQL's one-statement settlement, in
one right after it, when that statement finds a threshold reached without its alert; a unique key
makes each crossing happen once, whatever the number of workers) and delivered by
`deliver_pending`, which the app runs in the background, so a slow or broken webhook never delays a
model call: it queues each alert once as a signed `core.webhooks` delivery (retried with backoff,
id = the alert's id) and follows it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

import httpx
from sqlalchemy import Connection, CursorResult, Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import one_trip
from billing.models import Budget, BudgetCounter, UsageAlert, insert_ignoring_duplicates
from core import clock, webhook_subscriptions, webhooks
from core.database import write_transaction
from core.ids import new_id

log = logging.getLogger(__name__)
_BUDGETS, _COUNTERS = cast(Table, Budget.__table__), cast(Table, BudgetCounter.__table__)
_CROSSINGS = (
    select(
        _COUNTERS.c.period_start,
        _COUNTERS.c.spent_micros,
        _COUNTERS.c.spent_tokens,
        _BUDGETS.c.id,
        _BUDGETS.c.name,
        _BUDGETS.c.limit_micros,
        _BUDGETS.c.limit_tokens,
        _BUDGETS.c.hard,
        _BUDGETS.c.thresholds,
    )
    .join(_BUDGETS, _BUDGETS.c.id == _COUNTERS.c.budget_id)
    .where(_COUNTERS.c.id.in_(bindparam("ids", expanding=True)))
)


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


def unrecorded(standing: one_trip.Standing) -> bool:
    """Whether a counter has reached a threshold of its budget that has no alert yet this
    period (`billing.one_trip.settle_held` says where it stands)."""
    budget = Budget(
        limit_micros=standing.limit_micros,
        limit_tokens=standing.limit_tokens,
        hard=standing.hard,
        thresholds=standing.thresholds,
    )
    counter = BudgetCounter(spent_micros=standing.spent_micros, spent_tokens=standing.spent_tokens)
    return bool(set(_crossed(budget, counter)) - set(standing.alerted))


def record_crossings(connection: Connection, *, counter_ids: Sequence[str]) -> None:
    """Store an alert for every threshold the counters' budgets have newly reached."""
    if not counter_ids:
        return
    rows = connection.execute(_CROSSINGS, {"ids": list(counter_ids)})
    alerts: list[dict[str, Any]] = []
    for row in rows:
        budget = Budget(
            id=row.id,
            name=row.name,
            limit_micros=row.limit_micros,
            limit_tokens=row.limit_tokens,
            hard=row.hard,
            thresholds=row.thresholds,
        )
        counter = BudgetCounter(spent_micros=row.spent_micros, spent_tokens=row.spent_tokens)
        for threshold in _crossed(budget, counter):
            alerts.append(
                {
                    "id": new_id(),
                    "budget_id": budget.id,
                    "budget_name": budget.name,
                    "period_start": row.period_start,
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
        connection.execute(insert_ignoring_duplicates(connection.dialect.name, UsageAlert), alerts)
        _emit_new(connection, alerts)


def _emit_new(connection: Connection, alerts: list[dict[str, Any]]) -> None:
    """Queue `usage_alert` webhooks for the alerts this settlement stored (not the duplicates
    another one stored first), in its transaction."""
    ids = [a["id"] for a in alerts]
    stored = set(connection.scalars(select(UsageAlert.id).where(UsageAlert.id.in_(ids))))
    bodies = [_body(UsageAlert(**a)) for a in alerts if a["id"] in stored]
    if bodies:
        webhook_subscriptions.emit_sync(connection, event="usage_alert", bodies=bodies)


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
    policy: webhooks.WebhookPolicy | None = None,
    client: httpx.AsyncClient | None = None,
    batch: int = 50,
) -> int:
    """Queue new alerts as signed webhook deliveries, send what is due, and mark the alerts
    delivered; returns how many deliveries went through now.

    Retries (with backoff) and signing are `core.webhooks`'; an alert's `attempts` and
    `delivered_at` follow its delivery's.
    """
    await queue_pending(factory, webhook_url=webhook_url, batch=batch)
    policy = policy or webhooks.WebhookPolicy()
    sent = await webhooks.deliver_due(factory, policy=policy, client=client, batch=batch)
    await _follow_deliveries(factory, batch=batch)
    return sent


async def queue_pending(
    factory: async_sessionmaker[AsyncSession], *, webhook_url: str, batch: int = 50
) -> int:
    """Hand alerts not yet queued to the webhook queue (each once, whatever the workers)."""
    async with factory() as session:
        fresh = list(
            await session.scalars(
                select(UsageAlert.id)
                .where(UsageAlert.delivered_at.is_(None), UsageAlert.claimed_at.is_(None))
                .order_by(UsageAlert.created_at)
                .limit(batch)
            )
        )
    queued = 0
    for alert_id in fresh:
        async with write_transaction(factory) as session:
            result = await session.execute(
                update(UsageAlert)
                .where(UsageAlert.id == alert_id, UsageAlert.claimed_at.is_(None))
                .values(claimed_at=clock.now())
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult[Any], result).rowcount == 0:
                continue  # another worker queued it
            alert = await session.get(UsageAlert, alert_id)
            assert alert is not None
            webhooks.queue(
                session,
                event="usage_alert",
                url=webhook_url,
                body=_body(alert),
                delivery_id=alert.id,
            )
            queued += 1
    return queued


async def _follow_deliveries(factory: async_sessionmaker[AsyncSession], *, batch: int) -> None:
    """Copy attempts and delivery time from the queued deliveries to their alerts."""
    async with write_transaction(factory) as session:
        waiting = list(
            await session.scalars(
                select(UsageAlert)
                .where(UsageAlert.delivered_at.is_(None), UsageAlert.claimed_at.is_not(None))
                .limit(batch * 4)
            )
        )
        found = await webhooks.states(session, ids=[a.id for a in waiting])
        for alert in waiting:
            if alert.id in found:
                _, alert.attempts, alert.delivered_at = found[alert.id]


def _body(alert: UsageAlert) -> dict[str, Any]:
    return {
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
        "createdAt": clock.as_utc(alert.created_at).isoformat(),
    }
