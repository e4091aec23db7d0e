"""The identity epoch moves once per transaction that changes who may call or on what terms (one
flush hook in `core.models` over users, tokens, teams and the billing rows billing adds), and
a savepoint rolled back takes its move with it; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing.models import Seat
from core.database import write_transaction
from core.ids import new_id
from core.models import AuthEpoch, User
from tests.billing.builders import Factory, make_team, make_user

pytestmark = pytest.mark.anyio


async def _epoch(factory: Factory) -> int:
    async with factory() as session:
        epoch = await session.scalar(select(AuthEpoch.epoch).where(AuthEpoch.id == 1))
    assert epoch is not None
    return epoch


async def test_a_transaction_changing_a_user_and_a_seat_moves_the_epoch_once(
    factory: Factory,
) -> None:
    team_id = await make_team(factory, seats_count=None)
    before = await _epoch(factory)
    async with write_transaction(factory) as session:
        user = User(username="user-" + new_id(), password_hash="x")
        session.add(user)
        await session.flush()
        session.add(Seat(team_id=team_id, user_id=user.id))
    assert await _epoch(factory) == before + 1


async def test_a_change_after_a_savepoint_rolled_back_its_bump_moves_the_epoch(
    factory: Factory,
) -> None:
    user_id = await make_user(factory)
    before = await _epoch(factory)
    async with write_transaction(factory) as session:
        savepoint = await session.begin_nested()
        session.add(User(username="dropped-" + new_id(), password_hash="x"))
        await session.flush()  # bumps, inside the savepoint
        await savepoint.rollback()
        user = await session.get_one(User, user_id)
        user.active = False
    assert await _epoch(factory) == before + 1
