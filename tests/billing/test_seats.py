"""Seats and subscriptions."""

from __future__ import annotations

import asyncio

import pytest

from billing import seats
from billing.errors import (
    NotTeamMember,
    SeatAlreadyAssigned,
    SeatNotFound,
    SeatsExhausted,
    SeatsInUse,
)
from billing.schemas import SubscriptionUpdate
from core.database import write_transaction
from core.models import User
from tests.billing.builders import Factory, make_team, make_user

pytestmark = pytest.mark.anyio


async def test_ten_concurrent_assignments_to_three_free_seats_give_three_seats_and_seven_refusals(
    factory: Factory,
) -> None:
    team = await make_team(factory, seats_count=5)
    for _ in range(2):
        await seats.assign(
            factory, team_id=team, user_id=await make_user(factory, team_ids=(team,))
        )
    users = [await make_user(factory, team_ids=(team,)) for _ in range(10)]

    async def one(user_id: str) -> str:
        try:
            await seats.assign(factory, team_id=team, user_id=user_id)
        except SeatsExhausted:
            return "refused"
        return "seated"

    outcomes = await asyncio.gather(*(one(u) for u in users))
    assert sorted(outcomes) == ["refused"] * 7 + ["seated"] * 3
    async with factory() as session:
        assert len(await seats.list_seats(session, team_id=team)) == 5
        (line,) = [s for s in await seats.overview(session) if s.team_id == team]
    assert (line.used, line.total) == (5, 5)


async def test_unassigning_frees_the_seat_for_someone_else(factory: Factory) -> None:
    team = await make_team(factory, seats_count=1)
    first, second = [await make_user(factory, team_ids=(team,)) for _ in range(2)]
    await seats.assign(factory, team_id=team, user_id=first)
    with pytest.raises(SeatsExhausted):
        await seats.assign(factory, team_id=team, user_id=second)
    await seats.unassign(factory, team_id=team, user_id=first)
    await seats.assign(factory, team_id=team, user_id=second)
    async with factory() as session:
        assert await seats.seat_of(session, user_id=first) is None
        seat = await seats.seat_of(session, user_id=second)
    assert seat is not None and seat.team_id == team
    with pytest.raises(SeatNotFound):
        await seats.unassign(factory, team_id=team, user_id=first)


async def test_a_seat_goes_only_to_a_member_and_only_once(factory: Factory) -> None:
    team = await make_team(factory, seats_count=3)
    outsider = await make_user(factory)
    member = await make_user(factory, team_ids=(team,))
    with pytest.raises(NotTeamMember):
        await seats.assign(factory, team_id=team, user_id=outsider)
    await seats.assign(factory, team_id=team, user_id=member)
    with pytest.raises(SeatAlreadyAssigned):
        await seats.assign(factory, team_id=team, user_id=member)
    async with factory() as session:
        subscription = await seats.get_subscription(session, team_id=team)
    assert subscription.seats_used == 1


async def test_seats_cannot_shrink_below_those_assigned(factory: Factory) -> None:
    team = await make_team(factory, seats_count=2)
    for _ in range(2):
        await seats.assign(
            factory, team_id=team, user_id=await make_user(factory, team_ids=(team,))
        )
    with pytest.raises(SeatsInUse):
        await seats.set_subscription(factory, team_id=team, data=SubscriptionUpdate(seats=1))
    grown = await seats.set_subscription(
        factory, team_id=team, data=SubscriptionUpdate(seats=4, plan_name="Pro")
    )
    assert (grown.seats, grown.seats_used, grown.plan_name) == (4, 2, "Pro")


async def test_the_bootstrap_admin_gets_a_seat_on_a_fresh_install(factory: Factory) -> None:
    async with write_transaction(factory) as session:
        admin = User(username="admin", password_hash="x", role="admin")
        session.add(admin)
        await session.flush()
        await seats.grant_bootstrap_seat(session, user_id=admin.id)
        await seats.grant_bootstrap_seat(session, user_id=admin.id)
    async with factory() as session:
        seat = await seats.require_seat(session, user_id=admin.id)
        subscription = await seats.get_subscription(session, team_id=seat.team_id)
    assert (subscription.seats, subscription.seats_used) == (1, 1)
