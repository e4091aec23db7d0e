"""Which models a team's members may use: every model, unless an admin turned it off for the team.

As with a chat's toolkits, `PUT` turns a model on for the team and `DELETE` turns it off; a member
of a team that has a model off gets 403 `model_disabled` when calling it, and no longer sees it
in GET /api/models.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response

from api.deps import AdminUser, ServicesDep
from api.hal import api_router, collection_of, whole
from api.responses import TeamModel
from api.routes.models import ModelNotFound
from api.services import Services
from core import stored_models, teams
from core.catalog import UnknownModel
from core.database import write_transaction

router = api_router(prefix="/api/teams/{team_id}/models", tags=["Teams", "Models"])


def team_model_body(services: Services, team_id: str, name: str) -> dict[str, Any]:
    """A model as a team sees it: whether the team's members may use it."""
    catalog = services.catalog
    model = catalog.models[name]
    return {
        "teamId": team_id,
        "modelId": name,
        "enabled": model.enabled and team_id not in model.blocked_teams,
        "source": model.source,
        "_links": {
            "self": {"href": f"/api/teams/{team_id}/models/{name}"},
            "model": {"href": f"/api/models/{name}"},
        },
    }


async def _team_and_model(services: Services, team_id: str, model_id: str) -> str:
    async with services.sessions() as session:
        await teams.get(session, team_id=team_id)
    try:
        return services.catalog.resolve(model_id).name
    except UnknownModel:
        raise ModelNotFound(model=model_id) from None


@router.get("", response_model=collection_of("teamModels", TeamModel))
async def list_team_models(team_id: str, _: AdminUser, services: ServicesDep) -> dict[str, Any]:
    """Every model, and whether the team's members may use it (admins)."""
    async with services.sessions() as session:
        await teams.get(session, team_id=team_id)
    names = list(services.catalog.models)
    items = (team_model_body(services, team_id, name) for name in names)
    return whole("teamModels", f"/api/teams/{team_id}/models", items)


@router.put(
    "/{model_id}",
    response_model=TeamModel,
    responses={201: {"model": TeamModel, "description": "Turned on."}},
)
async def enable_team_model(
    team_id: str, model_id: str, admin: AdminUser, services: ServicesDep, response: Response
) -> dict[str, Any]:
    """Let the team's members use a model again (admins): 201 when it was off, 200 if it was on."""
    name = await _team_and_model(services, team_id, model_id)
    async with write_transaction(services.sessions) as session:
        changed = await stored_models.set_team_access(
            session, team_id=team_id, model=name, allowed=True, actor_id=admin.id
        )
    await services.catalog_sync.refresh()
    response.status_code = 201 if changed else 200
    return team_model_body(services, team_id, name)


@router.delete("/{model_id}", status_code=204)
async def disable_team_model(
    team_id: str, model_id: str, admin: AdminUser, services: ServicesDep
) -> Response:
    """Stop the team's members using a model (admins); they get 403 `model_disabled`."""
    name = await _team_and_model(services, team_id, model_id)
    async with write_transaction(services.sessions) as session:
        await stored_models.set_team_access(
            session, team_id=team_id, model=name, allowed=False, actor_id=admin.id
        )
    await services.catalog_sync.refresh()
    return Response(status_code=204)
