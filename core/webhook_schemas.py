"""Create/Update/Read shapes of webhooks and their deliveries, camelCase on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from core.schemas import Schema

# The events a webhook can subscribe to (each the `X-Switchboard-Event` header and the body's
# `type`); `ping` is sent only by POST /api/webhooks/{id}/_test.
Event = Literal[
    "usage_alert", "job_run", "user_created", "user_deactivated", "seat_assigned", "seat_removed"
]
Url = Field(min_length=1, max_length=2000)
Secret = Field(min_length=8, max_length=500)


class WebhookCreate(Schema):
    """A new webhook: where to POST which events, and the secret that signs them."""

    url: str = Url
    events: list[Event] = Field(min_length=1, max_length=20)
    secret: str = Secret
    active: bool = True


class WebhookUpdate(Schema):
    """Changes to a webhook; fields left out stay. A `secret` replaces (rotates) the old one."""

    url: str | None = Field(default=None, min_length=1, max_length=2000)
    events: list[Event] | None = Field(default=None, min_length=1, max_length=20)
    secret: str | None = Field(default=None, min_length=8, max_length=500)
    active: bool | None = None


class WebhookRead(Schema):
    """A webhook as the API shows it: never its secret."""

    id: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime


class WebhookDeliveryRead(Schema):
    """One event sent (or being sent) to a webhook."""

    id: str
    event: str
    status: str  # pending, delivered or failed (the row's state)
    attempts: int
    response_code: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
