"""Webhooks: signed POSTs of events (budget alerts, job results), retried with backoff.

An event is queued as a `WebhookDelivery` row in the transaction that produced it; `deliver_due`
(run by the app every few seconds, in every worker) claims due rows one by one with a conditional
update, so one worker sends each. A failed attempt is retried after `retry_seconds`, doubling each
time (capped at an hour), until `max_attempts`; the row then ends `failed`.

Each POST carries the JSON body and these headers, so a receiver can check it came from us:

- `X-Switchboard-Event`: the event type, such as `usage_alert` or `job_run`;
- `X-Switchboard-Delivery`: the delivery id (the same on every retry: use it to drop duplicates);
- `X-Switchboard-Timestamp`: Unix seconds when this attempt was signed;
- `X-Switchboard-Signature`: `sha256=` and the hex HMAC-SHA256, keyed with the webhook secret, of
  the timestamp, a dot and the raw body (`f"{timestamp}.{body}"`). Reject old timestamps.

A delivery for an admin's webhook (`core.webhook_subscriptions`, `webhook_id` set) is signed with
that webhook's own secret, and its URL passes the `guard` again before each attempt (a name can
resolve elsewhere since it was saved); one for a settings URL uses `WebhookPolicy.secret`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock
from core.database import write_transaction
from core.errors import InvalidInput
from core.ids import new_id
from core.models import Webhook, WebhookDelivery
from core.sealing import SealedSecretUnreadable, Sealer

log = logging.getLogger(__name__)
CLAIM_SECONDS = 60
MAX_DELAY = timedelta(hours=1)
UrlGuard = Callable[[str], Awaitable[None]]  # raises InvalidInput for a URL not to be reached


@dataclass(frozen=True)
class WebhookPolicy:
    """How deliveries are signed and retried (from settings)."""

    secret: str = ""
    max_attempts: int = 8
    retry_seconds: float = 30.0
    timeout_seconds: float = 10.0
    sealer: Sealer | None = None  # opens subscriptions' secrets
    guard: UrlGuard | None = None  # checks subscriptions' URLs before each attempt


def queue(
    session: AsyncSession,
    *,
    event: str,
    url: str,
    body: dict[str, Any],
    delivery_id: str | None = None,
    webhook_id: str | None = None,
) -> WebhookDelivery:
    """Add a delivery of `body` to `url` in the caller's transaction; sent by `deliver_due`."""
    delivery = WebhookDelivery(
        id=delivery_id or new_id(),
        event=event,
        url=url,
        webhook_id=webhook_id,
        body=encode(body),
        next_attempt_at=clock.now(),
    )
    session.add(delivery)
    return delivery


def encode(body: dict[str, Any]) -> str:
    """The exact JSON text a delivery sends (and signs)."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Switchboard-Signature` value of a body signed at `timestamp`."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def retry_delay(policy: WebhookPolicy, attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failure: doubling from `retry_seconds`."""
    delay = timedelta(seconds=policy.retry_seconds * 2 ** max(0, attempts - 1))
    return min(delay, MAX_DELAY)


async def deliver_due(
    factory: async_sessionmaker[AsyncSession],
    *,
    policy: WebhookPolicy,
    client: httpx.AsyncClient | None = None,
    batch: int = 50,
) -> int:
    """Send the deliveries that are due (at least once each); returns how many succeeded."""
    async with factory() as session:
        due = list(
            await session.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.state == "pending",
                    WebhookDelivery.next_attempt_at <= clock.now(),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(batch)
            )
        )
    if not due:
        return 0
    owned = client is None
    http = client or httpx.AsyncClient(timeout=policy.timeout_seconds)
    sent = 0
    try:
        for delivery_id in due:
            delivery = await _claim(factory, delivery_id)
            if delivery is None:
                continue
            attempt = asyncio.ensure_future(_attempt(factory, http, delivery, policy))
            try:
                sent += await asyncio.shield(attempt)
            except asyncio.CancelledError:  # shutdown: record this attempt, then stop
                await attempt
                raise
    finally:
        if owned:
            await http.aclose()
    return sent


async def _attempt(
    factory: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    delivery: WebhookDelivery,
    policy: WebhookPolicy,
) -> bool:
    """Post a claimed delivery once and record how it went; True when it was delivered."""
    secret: str | None = policy.secret
    if delivery.webhook_id is not None:
        secret = await _subscription_secret(factory, delivery, policy)
    error: str | None = "The webhook was deleted or its secret cannot be read."
    code: int | None = None
    if secret is not None:
        error, code = await _checked_post(http, delivery, secret, policy)
    await _record(factory, delivery, (error, code), policy)
    return error is None


async def attempt_now(
    factory: async_sessionmaker[AsyncSession],
    delivery_id: str,
    *,
    policy: WebhookPolicy,
    client: httpx.AsyncClient | None = None,
) -> WebhookDelivery | None:
    """Send one queued delivery at once (a test ping); returns it as it stands after."""
    delivery = await _claim(factory, delivery_id)
    if delivery is not None and client is not None:
        await _attempt(factory, client, delivery, policy)
    elif delivery is not None:
        async with httpx.AsyncClient(timeout=policy.timeout_seconds) as own:
            await _attempt(factory, own, delivery, policy)
    async with factory() as session:
        return await session.get(WebhookDelivery, delivery_id)


async def _subscription_secret(
    factory: async_sessionmaker[AsyncSession], delivery: WebhookDelivery, policy: WebhookPolicy
) -> str | None:
    async with factory() as session:
        webhook = await session.get(Webhook, delivery.webhook_id)
    if webhook is None or policy.sealer is None:
        return None
    try:
        return policy.sealer.open(webhook.secret_sealed, context=webhook.id)
    except SealedSecretUnreadable:  # the provider secret key changed
        return None


async def _checked_post(
    http: httpx.AsyncClient, delivery: WebhookDelivery, secret: str, policy: WebhookPolicy
) -> tuple[str | None, int | None]:
    if delivery.webhook_id is not None and policy.guard is not None:
        try:
            await policy.guard(delivery.url)
        except InvalidInput as exc:
            return exc.message[:500], None
    return await _post(http, delivery, secret)


async def _claim(
    factory: async_sessionmaker[AsyncSession], delivery_id: str
) -> WebhookDelivery | None:
    now = clock.now()
    async with write_transaction(factory) as session:
        result = await session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.state == "pending",
                WebhookDelivery.next_attempt_at <= now,
                or_(
                    WebhookDelivery.claimed_until.is_(None),
                    WebhookDelivery.claimed_until < now,
                ),
            )
            .values(
                claimed_until=now + timedelta(seconds=CLAIM_SECONDS),
                attempts=WebhookDelivery.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], result).rowcount == 0:
            return None
        return await session.get(WebhookDelivery, delivery_id)


async def _post(
    http: httpx.AsyncClient, delivery: WebhookDelivery, secret: str
) -> tuple[str | None, int | None]:
    """One attempt: what went wrong (None when the receiver took it, 2xx) and its status."""
    body = delivery.body.encode()
    timestamp = int(clock.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Switchboard-Webhooks",
        "X-Switchboard-Event": delivery.event,
        "X-Switchboard-Delivery": delivery.id,
        "X-Switchboard-Timestamp": str(timestamp),
    }
    if secret:
        headers["X-Switchboard-Signature"] = signature(secret, timestamp, body)
    try:
        response = await http.post(delivery.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500], None
    if response.is_success:
        return None, response.status_code
    return f"HTTP {response.status_code}", response.status_code


async def _record(
    factory: async_sessionmaker[AsyncSession],
    delivery: WebhookDelivery,
    outcome: tuple[str | None, int | None],
    policy: WebhookPolicy,
) -> None:
    error, code = outcome
    values: dict[str, Any] = {"claimed_until": None, "last_error": error, "response_code": code}
    now = clock.now()
    if error is None:
        values |= {"state": "delivered", "delivered_at": now}
    elif delivery.attempts >= policy.max_attempts:
        values["state"] = "failed"
        log.warning(
            "webhook %s (%s) failed %d times, giving up: %s",
            delivery.id,
            delivery.event,
            delivery.attempts,
            error,
        )
    else:
        values["next_attempt_at"] = now + retry_delay(policy, delivery.attempts)
    async with write_transaction(factory) as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


async def states(
    session: AsyncSession, *, ids: list[str]
) -> dict[str, tuple[str, int, datetime | None]]:
    """State, attempts and delivery time of deliveries, by id."""
    rows = await session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.state,
            WebhookDelivery.attempts,
            WebhookDelivery.delivered_at,
        ).where(WebhookDelivery.id.in_(ids))
    )
    return {row[0]: (row[1], row[2], row[3]) for row in rows.all()}
