"""Webhook subscriptions at the service level: deliveries are queued in the transaction of the
change (a rolled-back change queues none), only for active subscribers of the event, and the URL
guard and the webhook's secret are applied again when each attempt is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.migrate import upgrade_database_async
from core import users, webhook_subscriptions, webhooks
from core.database import async_url, create_engine, sessionmaker, write_transaction
from core.errors import WebhookUrlNotAllowed
from core.models import WebhookDelivery
from core.schemas import UserCreate
from core.sealing import Sealer, new_key
from core.webhook_schemas import WebhookCreate
from tests.fakes.webhook_receiver import Receiver, receiving, verify
from tests.support import fresh_database_url

pytestmark = pytest.mark.anyio
Factory = async_sessionmaker[AsyncSession]
SECRET = "service-level-secret"
SEALER = Sealer(new_key())


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def factory(tmp_path: Path) -> AsyncIterator[Factory]:
    url = fresh_database_url() or f"sqlite:///{tmp_path / 'webhooks.db'}"
    await upgrade_database_async(url)
    engine = create_engine(async_url(url))
    try:
        yield sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving(refuse=0) as hooks:
        yield hooks


async def _anywhere(url: str) -> None:
    """A guard that lets every URL through (the loopback receiver)."""


async def _nowhere(url: str) -> None:
    raise WebhookUrlNotAllowed(url=url)


async def _subscribe(factory: Factory, url: str, events: list[str], active: bool = True) -> str:
    data = WebhookCreate.model_validate(
        {"url": url, "events": events, "secret": SECRET, "active": active}
    )
    async with write_transaction(factory) as session:
        made = await webhook_subscriptions.create(
            session, data=data, sealer=SEALER, guard=_anywhere
        )
        return made.id


async def _queued(factory: Factory) -> list[WebhookDelivery]:
    async with factory() as session:
        return list(await session.scalars(select(WebhookDelivery)))


async def _add_user(factory: Factory, username: str) -> None:
    async with write_transaction(factory) as session:
        data = UserCreate(username=username, password="correct horse battery staple")
        await users.create(session, data=data)


async def test_a_rolled_back_change_queues_nothing_and_a_committed_one_queues_one(
    factory: Factory, receiver: Receiver
) -> None:
    webhook_id = await _subscribe(factory, receiver.url, ["user_created"])
    await _subscribe(factory, receiver.url, ["seat_assigned"])  # not subscribed to it
    await _subscribe(factory, receiver.url, ["user_created"], active=False)
    with pytest.raises(RuntimeError):
        async with write_transaction(factory) as session:
            data = UserCreate(username="ghost", password="correct horse battery staple")
            await users.create(session, data=data)
            raise RuntimeError("the request failed after the user was added")
    assert await _queued(factory) == []
    await _add_user(factory, "real")
    (delivery,) = await _queued(factory)
    assert (delivery.event, delivery.webhook_id, delivery.state) == (
        "user_created",
        webhook_id,
        "pending",
    )


async def test_each_attempt_is_signed_with_the_webhook_secret_and_passes_the_guard_again(
    factory: Factory, receiver: Receiver
) -> None:
    await _subscribe(factory, receiver.url, ["user_created"])
    await _add_user(factory, "first")
    refusing = webhooks.WebhookPolicy(sealer=SEALER, guard=_nowhere, retry_seconds=60)
    assert await webhooks.deliver_due(factory, policy=refusing) == 0
    (delivery,) = await _queued(factory)
    assert (delivery.state, delivery.attempts, delivery.response_code) == ("pending", 1, None)
    assert "SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS" in (delivery.last_error or "")
    assert receiver.seen() == []  # refused before any connection
    await _add_user(factory, "second")
    allowing = webhooks.WebhookPolicy(secret="not-this-one", sealer=SEALER, guard=_anywhere)
    assert await webhooks.deliver_due(factory, policy=allowing) == 1  # the second; first waits
    (attempt,) = receiver.seen()
    assert verify(attempt, SECRET)["username"] == "second"


async def test_a_secret_that_no_longer_opens_fails_the_attempt_without_sending(
    factory: Factory, receiver: Receiver
) -> None:
    await _subscribe(factory, receiver.url, ["user_created"])
    await _add_user(factory, "someone")
    other_key = webhooks.WebhookPolicy(sealer=Sealer(new_key()), guard=_anywhere)
    assert await webhooks.deliver_due(factory, policy=other_key) == 0
    (delivery,) = await _queued(factory)
    assert delivery.last_error == "The webhook was deleted or its secret cannot be read."
    assert receiver.seen() == []
