"""Team AI subscriptions and their seats: assignment is race-free through a conditional update."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.errors import (
    NotTeamMember,
    SeatAlreadyAssigned,
    SeatNotFound,
    SeatRequired,
    SeatsExhausted,
    SeatsInUse,
    SubscriptionNotFound,
)
from billing.models import Seat, Subscription
from billing.schemas import SubscriptionUpdate
from core import clock, teams, webhook_subscriptions
from core.database import write_transaction
from core.errors import TeamNotFound
from core.ids import new_id
from core.models import BUMP_AUTH_EPOCH, Team, TeamMembership


@dataclass(frozen=True, kw_only=True)
class SeatUsage:
    """A team's used and total seats, for the admin overview."""

    team_id: str
    team_name: str
    used: int
    total: int
    plan_name: str | None
    renews_at: datetime | None


async def get_subscription(session: AsyncSession, *, team_id: str) -> Subscription:
    """A team's AI subscription.

    Raises:
        SubscriptionNotFound: the team has none.
    """
    subscription = await session.scalar(select(Subscription).where(Subscription.team_id == team_id))
    if subscription is None:
        raise SubscriptionNotFound(team_id=team_id)
    return subscription


async def set_subscription(
    factory: async_sessionmaker[AsyncSession], *, team_id: str, data: SubscriptionUpdate
) -> Subscription:
    """Create or change a team's subscription (in its own transaction).

    Raises:
        TeamNotFound: no team has that id.
        SeatsInUse: more seats are assigned than `data.seats`.
    """
    async with write_transaction(factory) as session:
        if await session.get(Team, team_id) is None:
            raise TeamNotFound(team_id=team_id)
        values = {"plan_name": data.plan_name, "renews_at": data.renews_at}
        result = await session.execute(
            update(Subscription)
            .where(Subscription.team_id == team_id, Subscription.seats_used <= data.seats)
            .values(seats=data.seats, **values)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[tuple[()]], result).rowcount == 0:
            existing = await session.scalar(
                select(Subscription).where(Subscription.team_id == team_id)
            )
            if existing is not None:
                raise SeatsInUse(seats=data.seats, seatsUsed=existing.seats_used)
            session.add(Subscription(team_id=team_id, seats=data.seats, seats_used=0, **values))
            await session.flush()
        subscription = await get_subscription(session, team_id=team_id)
        await session.refresh(subscription)
        return subscription


async def assign(factory: async_sessionmaker[AsyncSession], *, team_id: str, user_id: str) -> Seat:
    """Give a team member one of the team's seats (in its own transaction, never oversold).

    Raises:
        SubscriptionNotFound: the team has no subscription.
        NotTeamMember: the user is not a member of the team.
        SeatsExhausted: every seat is taken.
        SeatAlreadyAssigned: the user has a seat in this team already.
    """
    async with write_transaction(factory) as session:
        subscription = await get_subscription(session, team_id=team_id)
        member = await session.scalar(
            select(TeamMembership.id).where(
                TeamMembership.team_id == team_id, TeamMembership.user_id == user_id
            )
        )
        if member is None:
            raise NotTeamMember(team_id=team_id, user_id=user_id)
        taken = await session.execute(
            update(Subscription)
            .where(Subscription.id == subscription.id, Subscription.seats_used < Subscription.seats)
            .values(seats_used=Subscription.seats_used + 1)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[tuple[()]], taken).rowcount == 0:
            raise SeatsExhausted(team_id=team_id, seats=subscription.seats)
        seat = Seat(team_id=team_id, user_id=user_id)
        session.add(seat)
        try:
            await session.flush()
        except IntegrityError:
            raise SeatAlreadyAssigned(team_id=team_id, user_id=user_id) from None
        await _emit(session, "seat_assigned", team_id=team_id, user_id=user_id)
        return seat


async def unassign(
    factory: async_sessionmaker[AsyncSession], *, team_id: str, user_id: str
) -> None:
    """Take a seat back; requests already admitted finish, new ones need a seat again.

    Raises:
        SeatNotFound: the user has no seat in this team.
    """
    async with write_transaction(factory) as session:
        removed = await session.execute(
            delete(Seat)
            .where(Seat.team_id == team_id, Seat.user_id == user_id)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[tuple[()]], removed).rowcount == 0:
            raise SeatNotFound(team_id=team_id, user_id=user_id)
        await session.execute(BUMP_AUTH_EPOCH)  # a bulk delete passes by the flush hook
        await session.execute(
            update(Subscription)
            .where(Subscription.team_id == team_id)
            .values(seats_used=Subscription.seats_used - 1)
            .execution_options(synchronize_session=False)
        )
        await _emit(session, "seat_removed", team_id=team_id, user_id=user_id)


async def _emit(session: AsyncSession, event: str, *, team_id: str, user_id: str) -> None:
    """Queue a seat webhook (`seat_assigned` / `seat_removed`) in the seat change's transaction."""
    body = {
        "type": event,
        "id": new_id(),
        "teamId": team_id,
        "userId": user_id,
        "createdAt": clock.now().isoformat(),
    }
    await webhook_subscriptions.emit(session, event=event, body=body)


async def list_seats(session: AsyncSession, *, team_id: str) -> Sequence[Seat]:
    """A team's assigned seats, oldest first."""
    rows = await session.scalars(
        select(Seat).where(Seat.team_id == team_id).order_by(Seat.created_at, Seat.id)
    )
    return list(rows)


async def overview(session: AsyncSession) -> Sequence[SeatUsage]:
    """Every team with a subscription: used and total seats, by team name."""
    rows = await session.execute(
        select(Subscription, Team.name)
        .join(Team, Team.id == Subscription.team_id)
        .order_by(func.lower(Team.name))
    )
    return [
        SeatUsage(
            team_id=s.team_id,
            team_name=name,
            used=s.seats_used,
            total=s.seats,
            plan_name=s.plan_name,
            renews_at=s.renews_at,
        )
        for s, name in rows.all()
    ]


async def seat_of(session: AsyncSession, *, user_id: str) -> Seat | None:
    """The user's seat (the oldest, if several teams gave one), or None; for GET /api/me."""
    return await session.scalar(
        select(Seat).where(Seat.user_id == user_id).order_by(Seat.created_at, Seat.id).limit(1)
    )


async def require_seat(session: AsyncSession, *, user_id: str) -> Seat:
    """The user's seat.

    Raises:
        SeatRequired: the user holds no seat.
    """
    seat = await seat_of(session, user_id=user_id)
    if seat is None:
        raise SeatRequired(user_id=user_id)
    return seat


async def grant_bootstrap_seat(session: AsyncSession, *, user_id: str) -> None:
    """Give a fresh install's first admin a seat, making a team and subscription if there are none.

    The caller owns the transaction; nothing happens when the user has a seat already.
    """
    if await seat_of(session, user_id=user_id) is not None:
        return
    team_id = await session.scalar(
        select(TeamMembership.team_id)
        .where(TeamMembership.user_id == user_id)
        .order_by(TeamMembership.created_at)
        .limit(1)
    )
    if team_id is None:
        team_id = await _default_team(session)
        session.add(TeamMembership(team_id=team_id, user_id=user_id, role="owner"))
    subscription = await session.scalar(select(Subscription).where(Subscription.team_id == team_id))
    if subscription is None:
        subscription = Subscription(team_id=team_id, seats=1, seats_used=0)
        session.add(subscription)
    subscription.seats = max(subscription.seats, subscription.seats_used + 1)
    subscription.seats_used += 1
    session.add(Seat(team_id=team_id, user_id=user_id))
    await session.flush()
    await _emit(session, "seat_assigned", team_id=team_id, user_id=user_id)


async def _default_team(session: AsyncSession) -> str:
    return (await teams.everyone(session)).id
