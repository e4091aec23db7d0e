"""Usage profiles: which models a team or user may use, and a monthly cap (admins only)."""

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
from billing import profiles
from billing.models import UsageProfile
from billing.schemas import UsageProfileCreate, UsageProfileRead, UsageProfileUpdate
from core.listing import Page

router = api_router(prefix="/api/usage-profiles", tags=["Usage profiles"])


async def admin_profile(profile_id: str, _: AdminUser, session: SessionDep) -> UsageProfile:
    """The usage profile named by `profile_id`, for an admin (403 for anyone else, then 404
    `usage_profile_not_found`)."""
    return await profiles.get(session, profile_id=profile_id)


UsageProfileDep = Annotated[UsageProfile, Depends(admin_profile)]


def profile_body(profile: UsageProfile) -> Resource[UsageProfileRead]:
    """A usage profile as a HAL resource."""
    return resource(UsageProfileRead.model_validate(profile), f"/api/usage-profiles/{profile.id}")


@router.get("", response_model=collection_of("usageProfiles", UsageProfileRead))
async def list_profiles(
    _: AdminUser, session: SessionDep, page: PageDep
) -> Collection[Resource[UsageProfileRead]]:
    """Every usage profile, by name."""
    found = list(await profiles.list_profiles(session))
    result = Page(found[page.start : page.start + page.limit], len(found), page.start, page.limit)
    return collection("usageProfiles", "/api/usage-profiles", result, profile_body)


@router.post("", status_code=201, response_model=resource_of(UsageProfileRead))
async def create_profile(
    body: UsageProfileCreate, _: AdminUser, session: SessionDep
) -> Resource[UsageProfileRead]:
    """Give a team or user a usage profile.

    `allowedModels` lists the models (names or aliases) its members may use, null for all; a
    model outside it is refused with 403 `model_not_allowed` before any provider call. A user's
    own profile decides for them, else any of their teams' profiles may allow a model.
    `monthlyCapMicros` becomes a hard monthly budget. One profile per team or user (409).
    """
    return profile_body(await profiles.create(session, data=body))


@router.get("/{profile_id}", response_model=resource_of(UsageProfileRead))
async def get_profile(profile: UsageProfileDep, _: AdminUser) -> Resource[UsageProfileRead]:
    """One usage profile."""
    return profile_body(profile)


@router.patch("/{profile_id}", response_model=resource_of(UsageProfileRead))
async def update_profile(
    profile: UsageProfileDep, body: UsageProfileUpdate, _: AdminUser, session: SessionDep
) -> Resource[UsageProfileRead]:
    """Change a profile; fields left out stay, null allows every model or lifts the cap."""
    return profile_body(await profiles.update(session, profile=profile, data=body))


@router.delete("/{profile_id}", status_code=204)
async def delete_profile(profile: UsageProfileDep, _: AdminUser, session: SessionDep) -> Response:
    """Remove a profile and its monthly cap."""
    await profiles.delete(session, profile=profile)
    return Response(status_code=204)
