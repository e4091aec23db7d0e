"""Webhooks as an API: admins subscribe URLs to events; the services where events happen emit them.

`emit` (or `emit_sync` inside a settlement's connection) queues one `core.webhooks` delivery per
active webhook subscribed to the event, in the caller's transaction: the change and its deliveries
commit together, so a crash never loses one nor sends one for a change that did not happen. Each
webhook's secret is sealed at rest (`core.sealing`, bound to the webhook id) and never shown.

The settings URLs (SWITCHBOARD_ALERT_WEBHOOK_URL, SWITCHBOARD_JOB_WEBHOOK_URL) keep working beside
these, as an implicit webhook subscribed to `usage_alert` / `job_run` and signed with
SWITCHBOARD_WEBHOOK_SECRET.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock, webhooks
from core.database import write_transaction
from core.errors import WebhookNotFound
from core.ids import new_id
from core.listing import Page, PageRequest, paginate
from core.models import Webhook, WebhookDelivery
from core.sealing import Sealer
from core.webhook_schemas import WebhookCreate, WebhookUpdate

_ACTIVE = select(Webhook.id, Webhook.url, Webhook.events).where(Webhook.active.is_(True))


async def create(
    session: AsyncSession,
    *,
    data: WebhookCreate,
    sealer: Sealer,
    guard: webhooks.UrlGuard,
) -> Webhook:
    """Add a webhook.

    Raises:
        WebhookUrlNotAllowed: the URL is not http(s) or points at a host not allowed.
    """
    await guard(data.url)
    webhook = Webhook(
        id=new_id(), url=data.url, events=sorted(set(data.events)), active=data.active
    )
    webhook.secret_sealed = sealer.seal(data.secret, context=webhook.id)
    session.add(webhook)
    await session.flush()
    return webhook


async def get(session: AsyncSession, *, webhook_id: str) -> Webhook:
    """A webhook by id.

    Raises:
        WebhookNotFound: no webhook has that id.
    """
    webhook = await session.get(Webhook, webhook_id)
    if webhook is None:
        raise WebhookNotFound(webhook_id=webhook_id)
    return webhook


async def list_page(session: AsyncSession, *, page: PageRequest) -> Page[Webhook]:
    """Webhooks, newest first, searchable by URL."""
    return await paginate(
        session,
        select(Webhook),
        page,
        sortable={"createdAt": Webhook.created_at, "url": Webhook.url},
        searchable=(Webhook.url,),
    )


async def update(
    session: AsyncSession,
    *,
    webhook: Webhook,
    data: WebhookUpdate,
    sealer: Sealer,
    guard: webhooks.UrlGuard,
) -> Webhook:
    """Change a webhook; a new `secret` replaces the old one for every delivery still to send.

    Raises:
        WebhookUrlNotAllowed: the new URL is not http(s) or points at a host not allowed.
    """
    if data.url is not None:
        await guard(data.url)
        webhook.url = data.url
    if data.events is not None:
        webhook.events = sorted(set(data.events))
    if data.active is not None:
        webhook.active = data.active
    if data.secret is not None:
        webhook.secret_sealed = sealer.seal(data.secret, context=webhook.id)
    webhook.updated_at = clock.now()
    await session.flush()
    return webhook


async def delete_webhook(session: AsyncSession, *, webhook: Webhook) -> None:
    """Remove a webhook and its deliveries (those not sent yet are dropped)."""
    await session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id)
        .execution_options(synchronize_session=False)
    )
    await session.delete(webhook)
    await session.flush()


async def deliveries(
    session: AsyncSession, *, webhook_id: str, page: PageRequest
) -> Page[WebhookDelivery]:
    """A webhook's deliveries, newest first."""
    return await paginate(
        session,
        select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id),
        page,
        sortable={"createdAt": WebhookDelivery.created_at},
    )


def _rows(
    subscribed: list[tuple[str, str, list[str]]], event: str, body: dict[str, Any]
) -> list[dict[str, Any]]:
    text = webhooks.encode(body)
    now = clock.now()
    return [
        {
            "id": new_id(),
            "event": event,
            "url": url,
            "webhook_id": webhook_id,
            "body": text,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for webhook_id, url, events in subscribed
        if event in (events or [])
    ]


async def emit(session: AsyncSession, *, event: str, body: dict[str, Any]) -> int:
    """Queue `body` for every active webhook subscribed to `event`, in the caller's transaction;
    returns how many deliveries were queued."""
    active = [(r[0], r[1], r[2]) for r in (await session.execute(_ACTIVE)).all()]
    rows = _rows(active, event, body)
    if rows:
        await session.execute(insert(WebhookDelivery), rows)
    return len(rows)


def emit_sync(connection: Connection, *, event: str, bodies: list[dict[str, Any]]) -> int:
    """`emit` for code running on a synchronous connection (billing's settlement)."""
    active = [(r[0], r[1], r[2]) for r in connection.execute(_ACTIVE).all()]
    rows = [row for body in bodies for row in _rows(active, event, body)]
    if rows:
        connection.execute(insert(WebhookDelivery), rows)
    return len(rows)


async def ping(
    factory: async_sessionmaker[AsyncSession],
    *,
    webhook_id: str,
    policy: webhooks.WebhookPolicy,
    client: httpx.AsyncClient | None = None,
) -> WebhookDelivery:
    """Send a signed `ping` to a webhook now (active or not); returns the delivery after its
    first attempt (a failed one is retried like any other).

    Raises:
        WebhookNotFound: no webhook has that id.
    """
    async with write_transaction(factory) as session:
        webhook = await get(session, webhook_id=webhook_id)
        delivery_id = new_id()
        body = {"type": "ping", "id": delivery_id, "webhookId": webhook.id}
        body["createdAt"] = clock.now().isoformat()
        webhooks.queue(
            session,
            event="ping",
            url=webhook.url,
            body=body,
            delivery_id=delivery_id,
            webhook_id=webhook.id,
        )
    delivery = await webhooks.attempt_now(factory, delivery_id, policy=policy, client=client)
    if delivery is None:  # the webhook was deleted meanwhile, with its deliveries
        raise WebhookNotFound(webhook_id=webhook_id)
    return delivery
