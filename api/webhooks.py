"""The background sender of webhooks: each worker, every few seconds, queues new budget alerts
and sends the deliveries that are due (see `core.webhooks` for signing and retries)."""

from __future__ import annotations

import asyncio
import logging

import httpx

from api.services import Services
from billing import alerts
from core import webhooks

log = logging.getLogger(__name__)


def policy_of(services: Services) -> webhooks.WebhookPolicy:
    """Signing and retry settings."""
    settings = services.settings
    return webhooks.WebhookPolicy(
        secret=settings.webhook_secret.get_secret_value(),
        max_attempts=settings.webhook_max_attempts,
        retry_seconds=settings.webhook_retry_seconds,
    )


async def send_forever(services: Services) -> None:
    """Queue and send webhooks every `webhook_poll_seconds` until cancelled."""
    settings = services.settings
    policy = policy_of(services)
    async with httpx.AsyncClient(timeout=policy.timeout_seconds) as client:
        while True:
            try:
                if settings.alert_webhook_url:
                    await alerts.deliver_pending(
                        services.sessions,
                        webhook_url=settings.alert_webhook_url,
                        policy=policy,
                        client=client,
                    )
                else:
                    await webhooks.deliver_due(services.sessions, policy=policy, client=client)
            except Exception:
                log.exception("sending webhooks failed")
            await asyncio.sleep(settings.webhook_poll_seconds)
