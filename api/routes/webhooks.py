"""Webhooks (admins only): subscriptions of URLs to events, a test ping, and delivery history.

Deliveries are signed as `core.webhooks` describes; see docs/api.md for the events and bodies.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response

from api.deps import AdminUser, PageDep, ServicesDep, SessionDep
from api.hal import (
    Collection,
    Resource,
    api_router,
    collection,
    collection_of,
    resource,
    resource_of,
)
from api.webhooks import policy_of, url_guard
from core import webhook_subscriptions
from core.models import Webhook, WebhookDelivery
from core.webhook_schemas import (
    WebhookCreate,
    WebhookDeliveryRead,
    WebhookRead,
    WebhookUpdate,
)

router = api_router(prefix="/api/webhooks", tags=["Webhooks"])


async def admin_webhook(webhook_id: str, _: AdminUser, session: SessionDep) -> Webhook:
    """The webhook named by `webhook_id`, for an admin (403 for anyone else, then 404
    `webhook_not_found`)."""
    return await webhook_subscriptions.get(session, webhook_id=webhook_id)


async def detached_webhook(webhook_id: str, _: AdminUser, services: ServicesDep) -> Webhook:
    """As `admin_webhook`, read in a session of its own, which holds no lock while the route then
    sends through a service that opens its own transactions (`_test`)."""
    async with services.sessions() as session:
        return await webhook_subscriptions.get(session, webhook_id=webhook_id)


WebhookDep = Annotated[Webhook, Depends(admin_webhook)]
DetachedWebhookDep = Annotated[Webhook, Depends(detached_webhook)]


def webhook_body(webhook: Webhook) -> Resource[WebhookRead]:
    """A webhook as a HAL resource (never its secret)."""
    href = f"/api/webhooks/{webhook.id}"
    return resource(
        WebhookRead.model_validate(webhook),
        href,
        deliveries=f"{href}/deliveries",
        test=f"{href}/_test",
    )


def delivery_body(delivery: WebhookDelivery) -> Resource[WebhookDeliveryRead]:
    """A delivery as a HAL resource."""
    view = WebhookDeliveryRead(
        id=delivery.id,
        event=delivery.event,
        status=delivery.state,
        attempts=delivery.attempts,
        response_code=delivery.response_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
    )
    href = f"/api/webhooks/{delivery.webhook_id}"
    return resource(view, f"{href}/deliveries", webhook=href)


@router.get("", response_model=collection_of("webhooks", WebhookRead))
async def list_webhooks(
    _: AdminUser, session: SessionDep, page: PageDep
) -> Collection[Resource[WebhookRead]]:
    """Every webhook, newest first, searchable by URL (`q`)."""
    result = await webhook_subscriptions.list_page(session, page=page)
    params = {"q": page.q, "sort": page.sort}
    return collection("webhooks", "/api/webhooks", result, webhook_body, params)


@router.post("", status_code=201, response_model=resource_of(WebhookRead))
async def create_webhook(
    body: WebhookCreate, _: AdminUser, session: SessionDep, services: ServicesDep
) -> Resource[WebhookRead]:
    """Subscribe a URL to events (`usage_alert`, `job_run`, `user_created`, `user_deactivated`,
    `seat_assigned`, `seat_removed`). Each delivery is signed with `secret`, which is never
    returned. A URL whose host is loopback, private or link-local is refused (422
    `webhook_url_not_allowed`) unless listed in SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS."""
    webhook = await webhook_subscriptions.create(
        session,
        data=body,
        sealer=services.catalog_sync.sealer,
        guard=url_guard(services),
    )
    return webhook_body(webhook)


@router.get("/{webhook_id}", response_model=resource_of(WebhookRead))
async def get_webhook(webhook: WebhookDep) -> Resource[WebhookRead]:
    """One webhook."""
    return webhook_body(webhook)


@router.patch("/{webhook_id}", response_model=resource_of(WebhookRead))
async def update_webhook(
    webhook: WebhookDep, body: WebhookUpdate, session: SessionDep, services: ServicesDep
) -> Resource[WebhookRead]:
    """Change a webhook's URL, events or `active`; a `secret` rotates the signing secret (for
    every delivery still to send). Fields left out stay."""
    webhook = await webhook_subscriptions.update(
        session,
        webhook=webhook,
        data=body,
        sealer=services.catalog_sync.sealer,
        guard=url_guard(services),
    )
    return webhook_body(webhook)


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook: WebhookDep, session: SessionDep) -> Response:
    """Remove a webhook with its delivery history; deliveries not sent yet are dropped."""
    await webhook_subscriptions.delete_webhook(session, webhook=webhook)
    return Response(status_code=204)


@router.post("/{webhook_id}/_test", response_model=resource_of(WebhookDeliveryRead))
async def test_webhook(
    webhook: DetachedWebhookDep, services: ServicesDep
) -> Resource[WebhookDeliveryRead]:
    """Send a signed `ping` event now and answer with the delivery after that attempt: `status`
    `delivered`, or `pending` with `lastError` and `responseCode` (it is retried like any other)."""
    delivery = await webhook_subscriptions.ping(
        services.sessions, webhook_id=webhook.id, policy=policy_of(services)
    )
    return delivery_body(delivery)


@router.get(
    "/{webhook_id}/deliveries", response_model=collection_of("deliveries", WebhookDeliveryRead)
)
async def list_deliveries(
    webhook: WebhookDep, session: SessionDep, page: PageDep
) -> Collection[Resource[WebhookDeliveryRead]]:
    """A webhook's deliveries, newest first: event, `status` (pending, delivered or failed),
    attempts, the receiver's last `responseCode`, `lastError` and times."""
    result = await webhook_subscriptions.deliveries(session, webhook_id=webhook.id, page=page)
    href = f"/api/webhooks/{webhook.id}/deliveries"
    return collection("deliveries", href, result, delivery_body, {"sort": page.sort})
