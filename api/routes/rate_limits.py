"""Rate-limit overrides: a team's, user's or API token's own per-minute limits (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response

from api.deps import AdminUser, PageDep, SessionDep
from api.hal import (
    Collection,
    Resource,
    api_router,
    collection,
    collection_of,
    resource,
    resource_of,
)
from billing import ratelimits
from billing.models import RateLimitOverride
from billing.schemas import (
    RateLimitOverrideCreate,
    RateLimitOverrideRead,
    RateLimitOverrideUpdate,
)
from core.listing import Page

router = api_router(prefix="/api/rate-limits", tags=["Rate limits"])


async def admin_override(override_id: str, _: AdminUser, session: SessionDep) -> RateLimitOverride:
    """The override named by `override_id`, for an admin (403 for anyone else, then 404
    `rate_limit_override_not_found`)."""
    return await ratelimits.get_override(session, override_id=override_id)


RateLimitOverrideDep = Annotated[RateLimitOverride, Depends(admin_override)]


def override_body(override: RateLimitOverride) -> Resource[RateLimitOverrideRead]:
    """A rate-limit override as a HAL resource."""
    read = RateLimitOverrideRead.model_validate(override)
    return resource(read, f"/api/rate-limits/{override.id}")


@router.get("", response_model=collection_of("rateLimits", RateLimitOverrideRead))
async def list_overrides(
    _: AdminUser, session: SessionDep, page: PageDep
) -> Collection[Resource[RateLimitOverrideRead]]:
    """Every rate-limit override, by scope. Without one, the settings' defaults apply."""
    found = list(await ratelimits.list_overrides(session))
    result = Page(found[page.start : page.start + page.limit], len(found), page.start, page.limit)
    return collection("rateLimits", "/api/rate-limits", result, override_body)


@router.post("", status_code=201, response_model=resource_of(RateLimitOverrideRead))
async def create_override(
    body: RateLimitOverrideCreate, _: AdminUser, session: SessionDep
) -> Resource[RateLimitOverrideRead]:
    """Set a team's, user's or API token's requests and tokens per minute (null: unlimited).

    A user's own override wins; else the most generous of their teams' overrides; else the
    defaults. Over a limit, requests get 429 `rate_limited` with `Retry-After` and
    `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`. One per scope (409).
    """
    return override_body(await ratelimits.create_override(session, data=body))


@router.get("/{override_id}", response_model=resource_of(RateLimitOverrideRead))
async def get_override(
    override: RateLimitOverrideDep, _: AdminUser
) -> Resource[RateLimitOverrideRead]:
    """One rate-limit override."""
    return override_body(override)


@router.patch("/{override_id}", response_model=resource_of(RateLimitOverrideRead))
async def update_override(
    override: RateLimitOverrideDep, body: RateLimitOverrideUpdate, _: AdminUser, session: SessionDep
) -> Resource[RateLimitOverrideRead]:
    """Change an override; fields left out stay, null lifts that limit."""
    return override_body(await ratelimits.update_override(session, override=override, data=body))


@router.delete("/{override_id}", status_code=204)
async def delete_override(
    override: RateLimitOverrideDep, _: AdminUser, session: SessionDep
) -> Response:
    """Remove an override; the defaults apply again."""
    await ratelimits.delete_override(session, override=override)
    return Response(status_code=204)
