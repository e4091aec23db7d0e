"""Response models of the bodies routes shape by hand (HAL resources of a schema use
`api.hal.resource_of`; collections `api.hal.collection_of`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, create_model

from api.hal import Link, Wire, resource_of
from billing.schemas import SeatRead
from core.schemas import ApiTokenRead, UserRead

UserResource = resource_of(UserRead)

ApiTokenIssued = create_model(
    "ApiTokenIssued",
    __base__=resource_of(ApiTokenRead),
    __doc__="A new token and its secret.",
    token=(str, ...),
)

Me = create_model(
    "Me",
    __base__=UserResource,
    __doc__="The caller, their teams, how they authenticated and their seat.",
    team_ids=(list[str], ...),
    authenticated_by=(Literal["apiToken", "session"], ...),
    seat=(SeatRead | None, ...),
)


class LoggedIn(Wire):
    """A session opened: the user and the CSRF token to send with state-changing requests."""

    user: UserResource  # type: ignore[valid-type]
    csrf_token: str | None


class Status(Wire):
    """A health answer."""

    status: str


class TeamModel(Wire):
    """A catalog model's state for one team."""

    team_id: str
    model_id: str
    enabled: bool
    source: str
    links: dict[str, Link] = Field(alias="_links")
