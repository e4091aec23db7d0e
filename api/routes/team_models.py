"""Which models a team's members may use: every model, unless an admin turned it off for the team.

As with a chat's toolkits, `PUT` turns a model on for the team and `DELETE` turns it off; a member
of a team that has a model off gets 403 `model_disabled` when calling it, and no longer sees it
in GET /api/models.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response

from api.deps import AdminUser, DetachedTeamDep, ServicesDep
from api.hal import Collection, Link, api_router, collection_of, whole
from api.responses import TeamModel
from api.routes.models import ModelNotFound
from api.services import Services
from core import stored_models
from core.catalog import UnknownModel
from core.database import write_transaction

router = api_router(prefix="/api/teams/{team_id}/models", tags=["Teams", "Models"])


def team_model_body(services: Services, team_id: str, name: str) -> TeamModel:
    """A model as a team sees it: whether the team's members may use it."""
    catalog = services.catalog
    model = catalog.models[name]
    return TeamModel(
        team_id=team_id,
        model_id=name,
        enabled=model.enabled and team_id not in model.blocked_teams,
        source=model.source,
        links={
            "self": Link(href=f"/api/teams/{team_id}/models/{name}"),
            "model": Link(href=f"/api/models/{name}"),
        },
    )


async def catalog_model(model_id: str, services: ServicesDep) -> str:
    """The name of the catalog model `model_id` names (a name or an alias; else 404
    `model_not_found`)."""
    try:
        return services.catalog.resolve(model_id).name
    except UnknownModel:
        raise ModelNotFound(model=model_id) from None


# The team first: a missing team is its 404 before the model's, and the path parameters keep
# their order in /openapi.json (team_id, then model_id).
ModelNameDep = Annotated[str, Depends(catalog_model)]


@router.get("", response_model=collection_of("teamModels", TeamModel))
async def list_team_models(
    team: DetachedTeamDep, _: AdminUser, services: ServicesDep
) -> Collection[TeamModel]:
    """Every model, and whether the team's members may use it (admins)."""
    names = list(services.catalog.models)
    items = (team_model_body(services, team.id, name) for name in names)
    return whole("teamModels", f"/api/teams/{team.id}/models", items)


@router.put(
    "/{model_id}",
    response_model=TeamModel,
    responses={201: {"model": TeamModel, "description": "Turned on."}},
)
async def enable_team_model(
    team: DetachedTeamDep,
    name: ModelNameDep,
    admin: AdminUser,
    services: ServicesDep,
    response: Response,
) -> TeamModel:
    """Let the team's members use a model again (admins): 201 when it was off, 200 if it was on."""
    async with write_transaction(services.sessions) as session:
        changed = await stored_models.set_team_access(
            session, team_id=team.id, model=name, allowed=True, actor_id=admin.id
        )
    await services.catalog_sync.refresh()
    response.status_code = 201 if changed else 200
    return team_model_body(services, team.id, name)


@router.delete("/{model_id}", status_code=204)
async def disable_team_model(
    team: DetachedTeamDep, name: ModelNameDep, admin: AdminUser, services: ServicesDep
) -> Response:
    """Stop the team's members using a model (admins); they get 403 `model_disabled`."""
    async with write_transaction(services.sessions) as session:
        await stored_models.set_team_access(
            session, team_id=team.id, model=name, allowed=False, actor_id=admin.id
        )
    await services.catalog_sync.refresh()
    return Response(status_code=204)
