"""Teams and their members, and the Everyone team every user belongs to."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.errors import Conflict, NotFound, TeamNameTaken, TeamNotFound
from core.listing import Page, PageRequest, paginate
from core.models import Team, TeamMembership, User
from core.schemas import TeamCreate, TeamUpdate

# Every user is a member of this team, made with the first user (`join_everyone`).
EVERYONE = "Everyone"


class AlreadyMember(Conflict):
    """That user is already a member of the team."""

    code = "already_member"


class MemberNotFound(NotFound):
    """That user is not a member of the team."""

    code = "member_not_found"


async def create(session: AsyncSession, *, data: TeamCreate) -> Team:
    """Add a team.

    Raises:
        TeamNameTaken: a team of that name exists.
    """
    await _check_name_free(session, data.name)
    team = Team(name=data.name, description=data.description)
    try:
        async with session.begin_nested():  # a racing create or a case the check missed
            session.add(team)
    except IntegrityError:
        raise TeamNameTaken(name=data.name) from None
    return team


async def get(session: AsyncSession, *, team_id: str) -> Team:
    """A team by id.

    Raises:
        TeamNotFound: no team has that id.
    """
    team = await session.get(Team, team_id)
    if team is None:
        raise TeamNotFound(team_id=team_id)
    return team


async def list_page(session: AsyncSession, *, page: PageRequest) -> Page[Team]:
    """Teams, searchable by name."""
    return await paginate(
        session,
        select(Team),
        page,
        sortable={"createdAt": Team.created_at, "name": Team.name},
        searchable=(Team.name,),
        default_sort="name",
    )


async def update(session: AsyncSession, *, team: Team, data: TeamUpdate) -> Team:
    """Rename or describe a team.

    Raises:
        TeamNameTaken: another team has the new name.
    """
    if data.name is not None and data.name != team.name:
        await _check_name_free(session, data.name)
        try:
            async with session.begin_nested():
                team.name = data.name
        except IntegrityError:
            raise TeamNameTaken(name=data.name) from None
    if data.description is not None:
        team.description = data.description
    await session.flush()
    return team


async def delete(session: AsyncSession, *, team: Team, actor_id: str | None = None) -> None:
    """Remove a team and its memberships."""
    await session.delete(team)
    await session.flush()
    await audit.record(
        session,
        kind="team.deleted",
        actor_id=actor_id,
        subject_type="team",
        subject_id=team.id,
        details={"name": team.name},
    )


async def add_member(
    session: AsyncSession, *, team: Team, user: User, role: str, actor_id: str | None = None
) -> TeamMembership:
    """Add a user to a team (`actor_id`: who did it; None: the system, e.g. a sign-in's
    group sync).

    Raises:
        AlreadyMember: the user is a member already.
    """
    if await _membership(session, team.id, user.id) is not None:
        raise AlreadyMember(user_id=user.id)
    membership = TeamMembership(team_id=team.id, user_id=user.id, role=role)
    session.add(membership)
    await session.flush()
    details = {"userId": user.id, "username": user.username, "role": role, "teamName": team.name}
    await _audit(session, "team.member_added", team, actor_id, details)
    return membership


async def remove_member(
    session: AsyncSession, *, team: Team, user_id: str, actor_id: str | None = None
) -> None:
    """Take a user out of a team.

    Raises:
        MemberNotFound: the user is not a member.
    """
    membership = await _membership(session, team.id, user_id)
    if membership is None:
        raise MemberNotFound(user_id=user_id)
    await session.delete(membership)
    await session.flush()
    details = {"userId": user_id, "role": membership.role, "teamName": team.name}
    await _audit(session, "team.member_removed", team, actor_id, details)


async def _audit(
    session: AsyncSession, kind: str, team: Team, actor_id: str | None, details: dict[str, str]
) -> None:
    await audit.record(
        session,
        kind=kind,
        actor_id=actor_id,
        subject_type="team",
        subject_id=team.id,
        details=details,
    )


async def everyone(session: AsyncSession) -> Team:
    """The Everyone team, made when missing (or deleted by an admin)."""
    team = await session.scalar(select(Team).where(Team.name == EVERYONE))
    if team is not None:
        return team
    try:
        async with session.begin_nested():  # another worker may make it first
            team = Team(name=EVERYONE, description="Everyone on this Switchboard.")
            session.add(team)
    except IntegrityError:
        team = await session.scalar(select(Team).where(Team.name == EVERYONE))
        assert team is not None
    return team


async def join_everyone(session: AsyncSession, *, user: User) -> None:
    """Make a user a member of the Everyone team (nothing when they are one)."""
    team = await everyone(session)
    if await _membership(session, team.id, user.id) is None:
        session.add(TeamMembership(team_id=team.id, user_id=user.id, role="member"))
        await session.flush()


async def members(session: AsyncSession, *, team: Team) -> Sequence[tuple[TeamMembership, User]]:
    """A team's memberships with their users, by username."""
    stmt = (
        select(TeamMembership, User)
        .join(User, User.id == TeamMembership.user_id)
        .where(TeamMembership.team_id == team.id)
        .order_by(User.username)
    )
    return [(m, u) for m, u in (await session.execute(stmt)).all()]


async def team_ids_of(session: AsyncSession, *, user_id: str) -> tuple[str, ...]:
    """The ids of the teams a user belongs to."""
    rows = await session.scalars(
        select(TeamMembership.team_id).where(TeamMembership.user_id == user_id)
    )
    return tuple(sorted(rows))


async def _membership(session: AsyncSession, team_id: str, user_id: str) -> TeamMembership | None:
    return await session.scalar(
        select(TeamMembership).where(
            TeamMembership.team_id == team_id, TeamMembership.user_id == user_id
        )
    )


async def _check_name_free(session: AsyncSession, name: str) -> None:
    same = or_(Team.name == name, func.lower(Team.name) == name.lower())
    taken = await session.scalar(select(Team.id).where(same))
    if taken is not None:
        raise TeamNameTaken(name=name)
