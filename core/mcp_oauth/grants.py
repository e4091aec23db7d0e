"""A user's connected MCP clients (their live grants): listed, revoked, and marked as used."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.listing import Page, PageRequest
from core.mcp_oauth.errors import McpClientNotFound
from core.mcp_oauth.models import OAuthClient, OAuthGrant
from core.mcp_oauth.tokens import revoke_grant

TOUCH_SECONDS = 60  # last use is written at most this often per grant


@dataclass(frozen=True, kw_only=True)
class Connected:
    """A live grant with its client's name."""

    id: str
    client_id: str
    client_name: str
    scope: str
    resource: str
    created_at: datetime
    last_used_at: datetime | None


def _live(user_id: str) -> ColumnElement[bool]:
    return and_(OAuthGrant.user_id == user_id, OAuthGrant.revoked_at.is_(None))


async def list_page(session: AsyncSession, *, user_id: str, page: PageRequest) -> Page[Connected]:
    """A user's connected MCP clients, most recent first."""
    total = await session.scalar(select(func.count()).select_from(OAuthGrant).where(_live(user_id)))
    rows = await session.execute(
        select(OAuthGrant, OAuthClient.name)
        .join(OAuthClient, OAuthClient.id == OAuthGrant.client_id)
        .where(_live(user_id))
        .order_by(OAuthGrant.created_at.desc(), OAuthGrant.id)
        .offset(page.start)
        .limit(page.limit)
    )
    items = [
        Connected(
            id=grant.id,
            client_id=grant.client_id,
            client_name=name,
            scope=grant.scope,
            resource=grant.resource,
            created_at=grant.created_at,
            last_used_at=grant.last_used_at,
        )
        for grant, name in rows
    ]
    return Page(items=items, total=total or 0, start=page.start, limit=page.limit)


async def revoke(session: AsyncSession, *, user_id: str, grant_id: str) -> None:
    """Disconnect one of a user's MCP clients: its tokens stop working at once.

    Raises:
        McpClientNotFound: the user has no such live grant.
    """
    grant = await session.get(OAuthGrant, grant_id[:26])
    if grant is None or grant.user_id != user_id:
        raise McpClientNotFound(grantId=grant_id)
    if not await revoke_grant(session, grant_id=grant.id, reason="user_revoked", actor_id=user_id):
        raise McpClientNotFound(grantId=grant_id)


def needs_touch(last_used_at: datetime | None) -> bool:
    """Whether a grant's recorded last use is old enough to be worth a write."""
    return (
        last_used_at is None
        or (clock.now() - clock.as_utc(last_used_at)).total_seconds() > TOUCH_SECONDS
    )


async def touch(session: AsyncSession, *, grant_id: str) -> None:
    """Record that a grant's access token was used now."""
    await session.execute(
        update(OAuthGrant).where(OAuthGrant.id == grant_id).values(last_used_at=clock.now())
    )


async def revoke_all(session: AsyncSession, *, user_id: str, reason: str) -> None:
    """End every live grant of a user (their password changed): each is audited."""
    live = await session.scalars(select(OAuthGrant.id).where(_live(user_id)))
    for grant_id in list(live):
        await revoke_grant(session, grant_id=grant_id, reason=reason)
