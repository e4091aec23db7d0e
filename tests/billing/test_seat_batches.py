"""Bulk seats: each user on their own, never oversold under concurrent batches."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from billing import seat_batches, seats
from billing.errors import SubscriptionNotFound
from billing.models import Seat, Subscription
from core.models import User
from tests.billing.builders import Factory, make_team, make_user

pytestmark = pytest.mark.anyio


async def _usernames(factory: Factory, user_ids: list[str]) -> list[str]:
    async with factory() as session:
        rows = await session.scalars(select(User).where(User.id.in_(user_ids)))
        by_id = {u.id: u.username for u in rows}
    return [by_id[i] for i in user_ids]


async def test_concurrent_bulk_assigns_never_sell_more_seats_than_the_subscription_has(
    factory: Factory,
) -> None:
    team = await make_team(factory, seats_count=7)
    ids = [await make_user(factory, team_ids=(team,)) for _ in range(20)]
    names = await _usernames(factory, ids)
    batches = await asyncio.gather(
        *(seat_batches.assign(factory, team_id=team, usernames=names[i::4]) for i in range(4))
    )
    assigned = [n for b in batches for n in b.done]
    refused = [f for b in batches for f in b.failed]
    assert len(assigned) == 7
    assert len(refused) == 13 and {f.code for f in refused} == {"no_seats_left"}
    async with factory() as session:
        held = await session.scalars(select(Seat.user_id).where(Seat.team_id == team))
        subscription = await session.scalar(
            select(Subscription).where(Subscription.team_id == team)
        )
        assert subscription is not None
        assert sorted(await _usernames(factory, list(held))) == sorted(assigned)
        assert subscription.seats_used == 7


async def test_one_refusal_does_not_undo_the_other_users_seats(factory: Factory) -> None:
    team = await make_team(factory, seats_count=2)
    seated, fresh, extra = [await make_user(factory, team_ids=(team,)) for _ in range(3)]
    outsider = await make_user(factory)
    await seats.assign(factory, team_id=team, user_id=seated)
    names = await _usernames(factory, [seated, fresh, outsider, extra])
    batch = await seat_batches.assign(
        factory, team_id=team, usernames=[*names, "nobody-here", names[1]]
    )
    assert batch.done == [names[1]]
    assert [(f.username, f.code) for f in batch.failed] == [
        (names[0], "already_assigned"),
        (names[2], "not_team_member"),
        (names[3], "no_seats_left"),
        ("nobody-here", "unknown_user"),
    ]


async def test_bulk_unassign_frees_each_seat_and_names_those_without_one(
    factory: Factory,
) -> None:
    team = await make_team(factory, seats_count=3)
    a, b = [await make_user(factory, team_ids=(team,)) for _ in range(2)]
    await seats.assign(factory, team_id=team, user_id=a)
    names = await _usernames(factory, [a, b])
    batch = await seat_batches.unassign(factory, team_id=team, usernames=[*names, "ghost"])
    assert batch.done == [names[0]]
    assert [(f.username, f.code) for f in batch.failed] == [
        (names[1], "not_assigned"),
        ("ghost", "unknown_user"),
    ]
    async with factory() as session:
        assert (await seats.get_subscription(session, team_id=team)).seats_used == 0


async def test_a_team_without_a_subscription_assigns_nothing(factory: Factory) -> None:
    team = await make_team(factory, seats_count=None)
    user = await make_user(factory, team_ids=(team,))
    with pytest.raises(SubscriptionNotFound):
        await seat_batches.assign(
            factory, team_id=team, usernames=await _usernames(factory, [user])
        )
