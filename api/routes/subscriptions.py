"""Team AI subscriptions and their seats (admins only)."""

from __future__ import annotations

from fastapi import Response

from api.deps import AdminUser, DetachedTeamDep, ServicesDep, SessionDep, TeamDep
from api.hal import Collection, Resource, api_router, collection_of, resource, resource_of, whole
from billing import seat_batches, seats
from billing.models import Seat, Subscription
from billing.schemas import (
    SeatAssign,
    SeatBatchFailure,
    SeatBatchRequest,
    SeatRead,
    SeatsAssigned,
    SeatsUnassigned,
    SeatUsageRead,
    SubscriptionRead,
    SubscriptionUpdate,
)

router = api_router(prefix="/api", tags=["Subscriptions"])


def subscription_body(subscription: Subscription) -> Resource[SubscriptionRead]:
    """A team's AI subscription as a HAL resource."""
    team = f"/api/teams/{subscription.team_id}"
    return resource(
        SubscriptionRead.model_validate(subscription),
        f"{team}/ai-subscription",
        team=team,
        seats=f"{team}/seats",
    )


def seat_body(seat: Seat) -> Resource[SeatRead]:
    """A seat as a HAL resource."""
    team = f"/api/teams/{seat.team_id}"
    return resource(
        SeatRead.model_validate(seat),
        f"{team}/seats/{seat.user_id}",
        team=team,
        user=f"/api/users/{seat.user_id}",
    )


@router.get("/teams/{team_id}/ai-subscription", response_model=resource_of(SubscriptionRead))
async def get_subscription(
    team: TeamDep, _: AdminUser, session: SessionDep
) -> Resource[SubscriptionRead]:
    """A team's AI subscription: its seats, how many are assigned, its plan and renewal date.

    A team that never had one answers 404 `subscription_not_found`.
    """
    return subscription_body(await seats.get_subscription(session, team_id=team.id))


@router.put("/teams/{team_id}/ai-subscription", response_model=resource_of(SubscriptionRead))
async def set_subscription(
    team_id: str, body: SubscriptionUpdate, _: AdminUser, services: ServicesDep
) -> Resource[SubscriptionRead]:
    """Create or change a team's AI subscription.

    Lowering `seats` below the number assigned is refused with 409 `seats_in_use`.
    """
    subscription = await seats.set_subscription(services.sessions, team_id=team_id, data=body)
    return subscription_body(subscription)


@router.get("/teams/{team_id}/seats", response_model=collection_of("seats", SeatRead))
async def list_team_seats(
    team: TeamDep, _: AdminUser, session: SessionDep
) -> Collection[Resource[SeatRead]]:
    """The seats assigned in a team, oldest first."""
    assigned = await seats.list_seats(session, team_id=team.id)
    return whole("seats", f"/api/teams/{team.id}/seats", (seat_body(s) for s in assigned))


@router.post("/teams/{team_id}/seats", status_code=201, response_model=resource_of(SeatRead))
async def assign_seat(
    team: DetachedTeamDep, body: SeatAssign, _: AdminUser, services: ServicesDep
) -> Resource[SeatRead]:
    """Give a team member one of the team's seats.

    Seats are never oversold: when every seat is taken the answer is 409 `seats_exhausted`, and a
    member who has a seat in the team already gets 409 `seat_already_assigned`.
    """
    return seat_body(await seats.assign(services.sessions, team_id=team.id, user_id=body.user_id))


@router.delete("/teams/{team_id}/seats/{user_id}", status_code=204)
async def unassign_seat(
    team_id: str, user_id: str, _: AdminUser, services: ServicesDep
) -> Response:
    """Take a seat back. Requests already admitted finish; the user's next one needs a seat."""
    await seats.unassign(services.sessions, team_id=team_id, user_id=user_id)
    return Response(status_code=204)


@router.post("/teams/{team_id}/seats/_assign", response_model=resource_of(SeatsAssigned))
async def assign_seats(
    team: DetachedTeamDep, body: SeatBatchRequest, _: AdminUser, services: ServicesDep
) -> Resource[SeatsAssigned]:
    """Give seats to many users by username (at most 1,000). Each user's seat is its own unit:
    one refusal never undoes the others, and concurrent requests never oversell the seats.

    `failed` names each username not served with a code: `unknown_user`, `not_team_member`,
    `already_assigned` or `no_seats_left`. A team without a subscription answers 404
    `subscription_not_found`.
    """
    batch = await seat_batches.assign(services.sessions, team_id=team.id, usernames=body.usernames)
    read = SeatsAssigned(assigned=batch.done, failed=_failures(batch))
    return resource(read, f"/api/teams/{team.id}/seats", team=f"/api/teams/{team.id}")


@router.post("/teams/{team_id}/seats/_unassign", response_model=resource_of(SeatsUnassigned))
async def unassign_seats(
    team: DetachedTeamDep, body: SeatBatchRequest, _: AdminUser, services: ServicesDep
) -> Resource[SeatsUnassigned]:
    """Take back the seats of many users by username (at most 1,000), each on its own.

    `failed` names each username not served with a code: `unknown_user` or `not_assigned`.
    """
    batch = await seat_batches.unassign(
        services.sessions, team_id=team.id, usernames=body.usernames
    )
    read = SeatsUnassigned(unassigned=batch.done, failed=_failures(batch))
    return resource(read, f"/api/teams/{team.id}/seats", team=f"/api/teams/{team.id}")


def _failures(batch: seat_batches.Batch) -> list[SeatBatchFailure]:
    return [SeatBatchFailure(username=f.username, code=f.code) for f in batch.failed]


@router.get("/seats", response_model=collection_of("seats", SeatUsageRead, "SeatUsages"))
async def seat_overview(_: AdminUser, session: SessionDep) -> Collection[Resource[SeatUsageRead]]:
    """Every team with an AI subscription: seats used and total, by team name."""
    lines = await seats.overview(session)
    return whole(
        "seats",
        "/api/seats",
        (
            resource(
                SeatUsageRead.model_validate(line),
                f"/api/teams/{line.team_id}/ai-subscription",
                team=f"/api/teams/{line.team_id}",
                seats=f"/api/teams/{line.team_id}/seats",
            )
            for line in lines
        ),
    )
