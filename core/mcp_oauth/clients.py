"""MCP clients registering themselves (RFC 7591), and admins approving or removing them.

Registration is open to public clients only. A client whose redirect URIs are all on the loopback
interface (`http://127.0.0.1:*`, `http://localhost:*`, `http://[::1]:*`) or on a host in
`SWITCHBOARD_MCP_OAUTH_ALLOWED_REDIRECT_HOSTS` may ask users for consent at once; any other waits,
pending, until an admin approves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete as delete_rows
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, clock
from core.listing import Page, PageRequest, paginate
from core.mcp_oauth.errors import McpClientNotFound, OAuthRefused
from core.mcp_oauth.models import OAuthClient, OAuthGrant
from core.models import User

SCOPE = "mcp"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_REDIRECT_URIS = 10
MAX_PENDING = 500  # unapproved registrations kept at once (registration needs no sign-in)
# An active client no user has connected within this time is deleted as new ones register, so
# open registration cannot fill the table (a client that registers again gets a new id).
UNUSED_CLIENT_SECONDS = 86400
GRANT_TYPES = frozenset({"authorization_code", "refresh_token"})


@dataclass(frozen=True, kw_only=True)
class Registration:
    """What a client asked to be registered with (RFC 7591 client metadata, read)."""

    redirect_uris: list[str]
    client_name: str
    client_uri: str | None = None
    token_endpoint_auth_method: str = "none"
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    response_types: tuple[str, ...] = ("code",)
    scope: str | None = None


def _check_redirect_uri(uri: str) -> str:
    """The URI's host, if it may be a redirect URI (RFC 8252: https, loopback http, or a
    private-use scheme such as `cursor://`; never a fragment).

    Raises:
        OAuthRefused: invalid_redirect_uri.
    """
    refused = OAuthRefused("invalid_redirect_uri", f"Redirect URI {uri!r} cannot be used.")
    if len(uri) > 2000 or "#" in uri or any(ord(c) <= 32 for c in uri):
        raise refused
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError:
        raise refused from None
    if not parts.scheme or (parts.scheme in ("http", "https") and not host):
        raise refused
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise OAuthRefused(
            "invalid_redirect_uri", f"Redirect URI {uri!r}: plain http is for loopback only."
        )
    if parts.scheme in ("javascript", "data", "file", "vbscript"):
        raise refused
    return host


def _trusted(uri: str, allowed_hosts: list[str]) -> bool:
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    if parts.scheme == "http":
        return host in LOOPBACK_HOSTS
    return host in {h.lower() for h in allowed_hosts}


def check(registration: Registration) -> None:
    """Refuse metadata Switchboard does not serve.

    Raises:
        OAuthRefused: invalid_redirect_uri or invalid_client_metadata.
    """
    if not registration.redirect_uris or len(registration.redirect_uris) > MAX_REDIRECT_URIS:
        raise OAuthRefused("invalid_redirect_uri", f"Give 1 to {MAX_REDIRECT_URIS} redirect_uris.")
    for uri in registration.redirect_uris:
        _check_redirect_uri(uri)
    if registration.token_endpoint_auth_method != "none":
        raise OAuthRefused(
            "invalid_client_metadata",
            "Only public clients register here: token_endpoint_auth_method must be 'none'.",
        )
    if not set(registration.grant_types) <= GRANT_TYPES:
        raise OAuthRefused(
            "invalid_client_metadata", "grant_types may be authorization_code and refresh_token."
        )
    if set(registration.response_types) != {"code"}:
        raise OAuthRefused("invalid_client_metadata", "response_types must be ['code'].")
    if registration.scope is not None and not set(registration.scope.split()) <= {SCOPE}:
        raise OAuthRefused("invalid_client_metadata", f"The only scope is {SCOPE!r}.")


async def register(
    session: AsyncSession, *, registration: Registration, allowed_hosts: list[str]
) -> OAuthClient:
    """Register a client: active when every redirect URI is trusted, else pending an admin.

    Raises:
        OAuthRefused: the metadata is refused, or too many registrations are pending.
    """
    check(registration)
    await _forget_unused(session)
    trusted = all(_trusted(uri, allowed_hosts) for uri in registration.redirect_uris)
    if not trusted:
        pending = await session.scalar(
            select(func.count()).select_from(OAuthClient).where(OAuthClient.status == "pending")
        )
        if (pending or 0) >= MAX_PENDING:
            raise OAuthRefused(
                "invalid_client_metadata", "Too many registrations await approval; ask an admin."
            )
    client = OAuthClient(
        name=registration.client_name.strip()[:200] or "Unnamed MCP client",
        client_uri=registration.client_uri,
        redirect_uris=list(registration.redirect_uris),
        status="active" if trusted else "pending",
    )
    session.add(client)
    await session.flush()
    return client


async def _forget_unused(session: AsyncSession) -> None:
    """Delete active clients older than a day that no user ever connected (no grant)."""
    cutoff = clock.now() - timedelta(seconds=UNUSED_CLIENT_SECONDS)
    connected = exists().where(OAuthGrant.client_id == OAuthClient.id)
    unused = (OAuthClient.status == "active") & (OAuthClient.created_at < cutoff) & ~connected
    await session.execute(
        delete_rows(OAuthClient).where(unused).execution_options(synchronize_session=False)
    )


async def get(session: AsyncSession, *, client_id: str) -> OAuthClient | None:
    """A registered client by its client_id, or None."""
    if not client_id or len(client_id) > 26:
        return None
    return await session.get(OAuthClient, client_id)


async def list_page(
    session: AsyncSession, *, page: PageRequest, status: str | None
) -> Page[OAuthClient]:
    """Registered clients, for admins; `status` filters (active or pending)."""
    query = select(OAuthClient)
    if status is not None:
        query = query.where(OAuthClient.status == status)
    return await paginate(
        session,
        query,
        page,
        sortable={"createdAt": OAuthClient.created_at, "name": OAuthClient.name},
        searchable=(OAuthClient.name,),
    )


async def approve(session: AsyncSession, *, client_id: str, admin: User) -> OAuthClient:
    """Let a pending client ask users for consent.

    Raises:
        McpClientNotFound: no such client.
    """
    client = await get(session, client_id=client_id)
    if client is None:
        raise McpClientNotFound(clientId=client_id)
    if client.status != "active":
        client.status = "active"
        client.approved_by = admin.id
        await session.flush()
        await _audit(session, "mcp_client.approved", client, admin)
    return client


async def delete(session: AsyncSession, *, client_id: str, admin: User) -> None:
    """Remove a client with its grants and tokens (they stop working at once).

    Raises:
        McpClientNotFound: no such client.
    """
    client = await get(session, client_id=client_id)
    if client is None:
        raise McpClientNotFound(clientId=client_id)
    await _audit(session, "mcp_client.deleted", client, admin)
    await session.delete(client)
    await session.flush()


async def _audit(session: AsyncSession, kind: str, client: OAuthClient, admin: User) -> None:
    await audit.record(
        session,
        kind=kind,
        actor_id=admin.id,
        subject_type="mcp_client",
        subject_id=client.id,
        details={"clientName": client.name},
    )
