"""Setting up billing over HTTP for the API tests: seats, budgets, calls, the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.models import LedgerEntry, Reservation
from tests.support import AppHarness, Caller


async def admin_team(harness: AppHarness) -> str:
    """The team whose subscription gave the bootstrap admin a seat."""
    me = await harness.client.get("/api/me", headers=harness.admin.headers)
    assert me.status_code == 200, me.text
    return str(me.json()["seat"]["teamId"])


async def add_seats(harness: AppHarness, team_id: str, more: int) -> None:
    """Raise a team's subscription by `more` seats (creating it when missing)."""
    client, headers = harness.client, harness.admin.headers
    current = await client.get(f"/api/teams/{team_id}/ai-subscription", headers=headers)
    seats = current.json()["seats"] if current.status_code == 200 else 0
    put = await client.put(
        f"/api/teams/{team_id}/ai-subscription", json={"seats": seats + more}, headers=headers
    )
    assert put.status_code == 200, put.text


async def join(harness: AppHarness, team_id: str, caller: Caller) -> None:
    """Make a user a member of a team (every user is one of the Everyone team already)."""
    added = await harness.client.post(
        f"/api/teams/{team_id}/members", json={"userId": caller.id}, headers=harness.admin.headers
    )
    assert added.status_code == 201 or added.json()["code"] == "already_member", added.text


async def seated_member(harness: AppHarness, username: str) -> Caller:
    """A new member of the admin's team holding one of its seats (a fresh token, new teams)."""
    team_id = await admin_team(harness)
    made = await harness.member(username)
    await join(harness, team_id, made)
    await add_seats(harness, team_id, 1)
    assigned = await harness.client.post(
        f"/api/teams/{team_id}/seats", json={"userId": made.id}, headers=harness.admin.headers
    )
    assert assigned.status_code == 201, assigned.text
    return made


async def create_budget(harness: AppHarness, **body: Any) -> dict[str, Any]:
    """Add a usage budget as the admin; returns its view."""
    response = await harness.client.post(
        "/api/usage-budgets", json=body, headers=harness.admin.headers
    )
    assert response.status_code == 201, response.text
    budget: dict[str, Any] = response.json()
    return budget


def completion(content: str = "hi", **extra: Any) -> dict[str, Any]:
    """A `/v1/chat/completions` body for the fake model."""
    return {"model": "fake", "messages": [{"role": "user", "content": content}], **extra}


async def v1(client: httpx.AsyncClient, caller: Caller, **extra: Any) -> httpx.Response:
    """One `/v1/chat/completions` call for a caller."""
    return await client.post(
        "/v1/chat/completions", json=completion(**extra), headers=caller.headers
    )


async def ledger_rows(
    factory: async_sessionmaker[AsyncSession], *, user_id: str | None = None
) -> Sequence[LedgerEntry]:
    """The terminal ledger rows, oldest first (of one user when given)."""
    stmt = select(LedgerEntry).order_by(LedgerEntry.created_at, LedgerEntry.id)
    if user_id is not None:
        stmt = stmt.where(LedgerEntry.user_id == user_id)
    async with factory() as session:
        return list(await session.scalars(stmt))


async def open_reservations(factory: async_sessionmaker[AsyncSession]) -> Sequence[Reservation]:
    """Reservations not yet settled."""
    async with factory() as session:
        return list(await session.scalars(select(Reservation).where(Reservation.state == "open")))
