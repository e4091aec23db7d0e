"""MCP clients that sign in with OAuth: the consent the web page asks for, each user's connected
clients, and admins' registered clients (approving the ones that wait)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Response

from api.deps import AdminUser, CurrentUser, PageDep, PrincipalDep, SessionDep
from api.hal import (
    Collection,
    Resource,
    api_router,
    collection,
    collection_of,
    resource,
    resource_of,
)
from core.mcp_oauth import authorizations, clients, grants
from core.mcp_oauth.errors import ConsentNeedsSignIn
from core.mcp_oauth.grants import Connected
from core.mcp_oauth.models import OAuthClient
from core.mcp_oauth.schemas import (
    ConsentDecided,
    ConsentUser,
    McpAuthorizationRead,
    McpClientRead,
    McpConnectionRead,
)
from core.models import User

router = api_router(prefix="/api", tags=["MCP clients"])


def _client_body(client: OAuthClient) -> Resource[McpClientRead]:
    return resource(McpClientRead.model_validate(client), f"/api/mcp-clients/{client.id}")


def _connection_body(found: Connected) -> Resource[McpConnectionRead]:
    read = McpConnectionRead(
        id=found.id,
        client_id=found.client_id,
        client_name=found.client_name,
        scopes=found.scope.split(),
        resource=found.resource,
        created_at=found.created_at,
        last_used_at=found.last_used_at,
    )
    return resource(read, f"/api/users/me/mcp-clients/{found.id}")


def _browser_user(principal: PrincipalDep) -> User:
    if principal.api_token is not None:
        raise ConsentNeedsSignIn()
    return principal.user


@router.get(
    "/mcp-authorizations/{authorization_id}", response_model=resource_of(McpAuthorizationRead)
)
async def get_authorization(
    authorization_id: str, principal: PrincipalDep, session: SessionDep
) -> Resource[McpAuthorizationRead]:
    """An MCP client's request to act as you, for the consent page: which client, which
    scopes, as which user. Only a signed-in browser session may read or decide it."""
    user = _browser_user(principal)
    found = await authorizations.pending(session, authorization_id=authorization_id)
    asked, client = found.authorization, found.client
    read = McpAuthorizationRead(
        id=asked.id,
        client_id=client.id,
        client_name=client.name,
        client_uri=client.client_uri,
        redirect_uri=asked.redirect_uri,
        scopes=asked.scope.split(),
        resource=asked.resource,
        user=ConsentUser(id=user.id, username=user.username, display_name=user.display_name),
        expires_at=asked.expires_at,
    )
    return resource(read, f"/api/mcp-authorizations/{asked.id}")


@router.post("/mcp-authorizations/{authorization_id}/_allow", response_model=ConsentDecided)
async def allow_authorization(
    authorization_id: str, principal: PrincipalDep, session: SessionDep
) -> ConsentDecided:
    """Allow the MCP client: `redirectTo` sends the browser back to it with a one-time code."""
    user = _browser_user(principal)
    target = await authorizations.allow(session, authorization_id=authorization_id, user=user)
    return ConsentDecided(redirect_to=target)


@router.post("/mcp-authorizations/{authorization_id}/_deny", response_model=ConsentDecided)
async def deny_authorization(
    authorization_id: str, principal: PrincipalDep, session: SessionDep
) -> ConsentDecided:
    """Deny the MCP client: `redirectTo` sends the browser back to it with `access_denied`."""
    user = _browser_user(principal)
    target = await authorizations.deny(session, authorization_id=authorization_id, user=user)
    return ConsentDecided(redirect_to=target)


@router.get(
    "/users/me/mcp-clients",
    response_model=collection_of("mcpClients", McpConnectionRead, "McpConnections"),
)
async def list_my_mcp_clients(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> Collection[Resource[McpConnectionRead]]:
    """Your connected MCP clients: each grant you allowed, until you revoke it."""
    result = await grants.list_page(session, user_id=user.id, page=page)
    return collection("mcpClients", "/api/users/me/mcp-clients", result, _connection_body)


@router.delete("/users/me/mcp-clients/{grant_id}", status_code=204)
async def revoke_my_mcp_client(grant_id: str, user: CurrentUser, session: SessionDep) -> Response:
    """Disconnect one of your MCP clients: its access and refresh tokens stop working at once."""
    await grants.revoke(session, user_id=user.id, grant_id=grant_id)
    return Response(status_code=204)


@router.get("/mcp-clients", response_model=collection_of("mcpClients", McpClientRead))
async def list_mcp_clients(
    _: AdminUser,
    session: SessionDep,
    page: PageDep,
    status: Annotated[Literal["active", "pending"] | None, Query()] = None,
) -> Collection[Resource[McpClientRead]]:
    """Registered MCP clients (admins); `status=pending` lists those awaiting approval."""
    result = await clients.list_page(session, page=page, status=status)
    params = {"q": page.q, "status": status}
    return collection("mcpClients", "/api/mcp-clients", result, _client_body, params)


@router.post("/mcp-clients/{client_id}/_approve", response_model=resource_of(McpClientRead))
async def approve_mcp_client(
    client_id: str, admin: AdminUser, session: SessionDep
) -> Resource[McpClientRead]:
    """Approve a pending MCP client (admins): users may then allow it to act as them."""
    return _client_body(await clients.approve(session, client_id=client_id, admin=admin))


@router.delete("/mcp-clients/{client_id}", status_code=204)
async def delete_mcp_client(client_id: str, admin: AdminUser, session: SessionDep) -> Response:
    """Remove an MCP client (admins), with every user's grant to it and their tokens."""
    await clients.delete(session, client_id=client_id, admin=admin)
    return Response(status_code=204)
