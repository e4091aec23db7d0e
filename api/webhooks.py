"""The background sender of webhooks: each worker, every few seconds, queues new budget alerts
and sends the deliveries that are due (see `core.webhooks` for signing and retries)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from functools import cache

import httpx

from api.services import Services
from billing import alerts
from core import audit, webhooks
from core.errors import WebhookUrlNotAllowed
from toolkits.errors import UnsafeUrl
from toolkits.ssrf import AddressPolicy

UNSAFE = UnsafeUrl().message  # the guard's message for a host that is not public

log = logging.getLogger(__name__)


def url_guard(services: Services) -> webhooks.UrlGuard:
    """The SSRF guard on admins' webhook URLs: public hosts, plus SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS
    (`host` or `host:port`, as the toolkits' allow-list)."""
    policy = AddressPolicy.from_setting(services.settings.webhook_allowed_hosts)

    async def check(url: str) -> None:
        try:
            await policy.check_url(url)
        except UnsafeUrl as exc:
            # a host that is not public gets our message (naming the setting); a URL that is
            # not http(s) or hides its host keeps the guard's
            message = None if exc.message == UNSAFE else exc.message
            raise WebhookUrlNotAllowed(message, url=url[:200]) from None

    return check


@cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context, made once a process: loading the CA bundle takes ~50 ms of
    CPU, which every app start paid again (hundreds of times in the test suite)."""
    return httpx.create_ssl_context()


def policy_of(services: Services) -> webhooks.WebhookPolicy:
    """Signing and retry settings; subscriptions' secrets open with the provider secret key."""
    settings = services.settings
    return webhooks.WebhookPolicy(
        secret=settings.webhook_secret.get_secret_value(),
        max_attempts=settings.webhook_max_attempts,
        retry_seconds=settings.webhook_retry_seconds,
        sealer=services.catalog_sync.sealer,
        guard=url_guard(services),
    )


async def send_forever(services: Services) -> None:
    """Queue and send webhooks every `webhook_poll_seconds` until cancelled (and, on the same
    beat, drop audit events past `audit_retention_days`)."""
    settings = services.settings
    policy = policy_of(services)
    async with httpx.AsyncClient(timeout=policy.timeout_seconds, verify=_tls()) as client:
        while True:
            try:
                await audit.prune(services.sessions, keep_days=settings.audit_retention_days)
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
