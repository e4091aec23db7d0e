"""The caller's API tokens."""

from __future__ import annotations

from fastapi import Response

from api.deps import CurrentUser, PageDep, SessionDep
from api.hal import Collection, Resource, api_router, collection, collection_of, resource
from api.responses import ApiTokenIssued
from core import api_tokens
from core.models import ApiToken
from core.schemas import ApiTokenCreate, ApiTokenRead

router = api_router(prefix="/api/api-tokens", tags=["API tokens"])


def token_body(token: ApiToken) -> Resource[ApiTokenRead]:
    """A token as a HAL resource (never the secret)."""
    return resource(ApiTokenRead.model_validate(token), f"/api/api-tokens/{token.id}")


@router.get("", response_model=collection_of("apiTokens", ApiTokenRead))
async def list_tokens(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> Collection[Resource[ApiTokenRead]]:
    """Your API tokens (their prefixes, never the secrets)."""
    result = await api_tokens.list_page(session, user=user, page=page)
    return collection("apiTokens", "/api/api-tokens", result, token_body, {"q": page.q})


@router.post("", status_code=201, response_model=ApiTokenIssued)
async def create_token(
    body: ApiTokenCreate, user: CurrentUser, session: SessionDep
) -> Resource[ApiTokenRead]:
    """Make an API token. The secret is in `token`, shown this one time only."""
    issued = await api_tokens.issue(session, user=user, name=body.name, expires_at=body.expires_at)
    with_secret = token_body(issued.token)
    with_secret["token"] = issued.secret
    return with_secret


@router.delete("/{token_id}", status_code=204)
async def revoke_token(token_id: str, user: CurrentUser, session: SessionDep) -> Response:
    """Revoke a token; requests using it fail from now on."""
    await api_tokens.revoke(session, user=user, token_id=token_id)
    return Response(status_code=204)
