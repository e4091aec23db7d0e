"""Teams and their members (admins only)."""

from __future__ import annotations

from fastapi import Response

from api.deps import AdminUser, PageDep, SessionDep, TeamDep
from api.hal import (
    Collection,
    Resource,
    api_router,
    collection,
    collection_of,
    resource,
    resource_of,
    whole,
)
from core import teams, users
from core.models import Team, TeamMembership, User
from core.schemas import MemberAdd, MemberRead, TeamCreate, TeamRead, TeamUpdate

router = api_router(prefix="/api/teams", tags=["Teams"])


def team_body(team: Team) -> Resource[TeamRead]:
    """A team as a HAL resource."""
    return resource(
        TeamRead.model_validate(team),
        f"/api/teams/{team.id}",
        members=f"/api/teams/{team.id}/members",
    )


def member_body(team_id: str, membership: TeamMembership, user: User) -> Resource[MemberRead]:
    """A member as a HAL resource."""
    read = MemberRead(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=membership.role,
        created_at=membership.created_at,
    )
    return resource(read, f"/api/teams/{team_id}/members/{user.id}", user=f"/api/users/{user.id}")


@router.get("", response_model=collection_of("teams", TeamRead))
async def list_teams(
    _: AdminUser, session: SessionDep, page: PageDep
) -> Collection[Resource[TeamRead]]:
    """Every team, searchable by name (`q`)."""
    result = await teams.list_page(session, page=page)
    return collection("teams", "/api/teams", result, team_body, {"q": page.q, "sort": page.sort})


@router.post("", status_code=201, response_model=resource_of(TeamRead))
async def create_team(body: TeamCreate, _: AdminUser, session: SessionDep) -> Resource[TeamRead]:
    """Add a team."""
    return team_body(await teams.create(session, data=body))


@router.get("/{team_id}", response_model=resource_of(TeamRead))
async def get_team(team: TeamDep, _: AdminUser) -> Resource[TeamRead]:
    """One team."""
    return team_body(team)


@router.patch("/{team_id}", response_model=resource_of(TeamRead))
async def update_team(
    team: TeamDep, body: TeamUpdate, _: AdminUser, session: SessionDep
) -> Resource[TeamRead]:
    """Rename or describe a team."""
    return team_body(await teams.update(session, team=team, data=body))


@router.delete("/{team_id}", status_code=204)
async def delete_team(team: TeamDep, admin: AdminUser, session: SessionDep) -> Response:
    """Remove a team and its memberships."""
    await teams.delete(session, team=team, actor_id=admin.id)
    return Response(status_code=204)


@router.get("/{team_id}/members", response_model=collection_of("members", MemberRead))
async def list_members(
    team: TeamDep, _: AdminUser, session: SessionDep
) -> Collection[Resource[MemberRead]]:
    """A team's members."""
    rows = await teams.members(session, team=team)
    href = f"/api/teams/{team.id}/members"
    return whole("members", href, (member_body(team.id, m, u) for m, u in rows))


@router.post("/{team_id}/members", status_code=201, response_model=resource_of(MemberRead))
async def add_member(
    team: TeamDep, body: MemberAdd, admin: AdminUser, session: SessionDep
) -> Resource[MemberRead]:
    """Add a user to a team."""
    user = await users.get(session, user_id=body.user_id)
    membership = await teams.add_member(
        session, team=team, user=user, role=body.role, actor_id=admin.id
    )
    return member_body(team.id, membership, user)


@router.delete("/{team_id}/members/{user_id}", status_code=204)
async def remove_member(
    team: TeamDep, user_id: str, admin: AdminUser, session: SessionDep
) -> Response:
    """Take a user out of a team."""
    await teams.remove_member(session, team=team, user_id=user_id, actor_id=admin.id)
    return Response(status_code=204)
