"""Seats for many users at once: each user's seat is its own transaction through `billing.seats`,
so one refusal never undoes the others and the subscription is never oversold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import seats
from billing.errors import NotTeamMember, SeatAlreadyAssigned, SeatNotFound, SeatsExhausted
from billing.models import Seat
from core.models import User

MAX_USERNAMES = 1000

# The failure code of each refusal of `billing.seats`, as a bulk answer names it.
_ASSIGN_FAILURES: dict[type[Exception], str] = {
    SeatAlreadyAssigned: "already_assigned",
    SeatsExhausted: "no_seats_left",
    NotTeamMember: "not_team_member",
}


@dataclass(frozen=True)
class Failure:
    """A username the batch could not serve, and why (a short code)."""

    username: str
    code: str


@dataclass
class Batch:
    """What a bulk assign or unassign did: usernames served, and the others with a code."""

    done: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)


async def assign(
    factory: async_sessionmaker[AsyncSession], *, team_id: str, usernames: Sequence[str]
) -> Batch:
    """Give each named user a seat of the team, each in its own transaction, in the given order.

    Failure codes: `unknown_user`, `not_team_member`, `already_assigned`, `no_seats_left`.

    Raises:
        SubscriptionNotFound: the team has no subscription (nothing is assigned).
    """
    async with factory() as session:
        await seats.get_subscription(session, team_id=team_id)
        ids = await _user_ids(session, usernames)
        holders = set(
            await session.scalars(
                select(Seat.user_id).where(Seat.team_id == team_id, Seat.user_id.in_(ids.values()))
            )
        )
    batch = Batch()
    for username in _unique(usernames):
        user_id = ids.get(username)
        if user_id is None or user_id in holders:
            code = "unknown_user" if user_id is None else "already_assigned"
            batch.failed.append(Failure(username, code))
            continue
        try:
            await seats.assign(factory, team_id=team_id, user_id=user_id)
        except (SeatAlreadyAssigned, SeatsExhausted, NotTeamMember) as refused:
            batch.failed.append(Failure(username, _ASSIGN_FAILURES[type(refused)]))
        else:
            batch.done.append(username)
    return batch


async def unassign(
    factory: async_sessionmaker[AsyncSession], *, team_id: str, usernames: Sequence[str]
) -> Batch:
    """Take back each named user's seat in the team, each in its own transaction.

    Failure codes: `unknown_user`, `not_assigned`.
    """
    async with factory() as session:
        ids = await _user_ids(session, usernames)
    batch = Batch()
    for username in _unique(usernames):
        user_id = ids.get(username)
        if user_id is None:
            batch.failed.append(Failure(username, "unknown_user"))
            continue
        try:
            await seats.unassign(factory, team_id=team_id, user_id=user_id)
        except SeatNotFound:
            batch.failed.append(Failure(username, "not_assigned"))
        else:
            batch.done.append(username)
    return batch


def _unique(usernames: Sequence[str]) -> list[str]:
    """The usernames in order, each once (a repeat is not a second request)."""
    return list(dict.fromkeys(usernames))


async def _user_ids(session: AsyncSession, usernames: Sequence[str]) -> dict[str, str]:
    rows = await session.execute(
        select(User.username, User.id).where(User.username.in_(set(usernames)))
    )
    return {username: user_id for username, user_id in rows.tuples()}
